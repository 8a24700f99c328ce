"""docs/verify_export.py's own Ed25519 (RFC 8032's test vectors, with PyNaCl and without it), and
its check of signatures and keys against the operator registry, on exports built here."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from nacl.signing import SigningKey, VerifyKey

from bmac_workflow.record import GENESIS, Entry, Signature, digest
from bmac_workflow.registry import RegistryEntry

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "verify_export.py"
VECTORS: list[dict[str, str]] = json.loads(
    (ROOT / "tests" / "fixtures" / "rfc8032-vectors.json").read_text()
)["vectors"]
NAMES = [v["name"] for v in VECTORS]

# Runs the script (its path and arguments follow) with every import of PyNaCl failing, as on a
# machine where it is not installed.
WITHOUT_NACL = """
import runpy, sys

class NoNacl:
    def find_spec(self, name, path=None, target=None):
        if name == "nacl" or name.startswith("nacl."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NoNacl())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_export", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


verify_export = load_script()


def run_verifier(*args: str, without_nacl: bool = False) -> subprocess.CompletedProcess[str]:
    """docs/verify_export.py ARGS in a new interpreter (with PyNaCl unimportable if asked)."""
    script = ["-c", WITHOUT_NACL, str(SCRIPT)] if without_nacl else [str(SCRIPT)]
    return subprocess.run(
        [sys.executable, *script, *args], capture_output=True, text=True, check=False
    )


def vector(name: str) -> tuple[bytes, bytes, bytes]:
    found = next(v for v in VECTORS if v["name"] == name)
    return tuple(bytes.fromhex(found[k]) for k in ("public_key", "message", "signature"))  # type: ignore[return-value]


def nacl_verifies(public: bytes, message: bytes, signature: bytes) -> bool:
    verify = verify_export.nacl_verifier()
    assert verify is not None
    return bool(verify(public, message, signature))


@pytest.mark.parametrize("name", NAMES)
def test_each_vector_is_rfc_8032s_as_pynacl_computes_it(name: str) -> None:
    found = next(v for v in VECTORS if v["name"] == name)
    key = SigningKey(bytes.fromhex(found["secret_key"]))
    public, message, signature = vector(name)
    assert bytes(key.verify_key) == public
    assert key.sign(message).signature == signature  # Ed25519 signatures are deterministic
    VerifyKey(public).verify(message, signature)


def test_the_vectors_are_the_five_of_section_7_1() -> None:
    assert NAMES == ["TEST 1", "TEST 2", "TEST 3", "TEST 1024", "TEST SHA(abc)"]
    assert [len(vector(n)[1]) for n in NAMES] == [0, 1, 2, 1023, 64]
    assert vector("TEST SHA(abc)")[1] == hashlib.sha512(b"abc").digest()


@pytest.mark.parametrize("name", NAMES)
def test_pure_python_verifies_each_vector_first_time_and_from_the_keys_table(name: str) -> None:
    public, message, signature = vector(name)
    verify_export._KEYS.pop(public, None)
    for _ in range(verify_export._TABLE_AFTER + 1):  # the window path, then the key's table
        assert verify_export.verify_pure(public, message, signature)
    assert verify_export._KEYS[public][2] is not None


@pytest.mark.parametrize("name", NAMES)
def test_one_changed_signature_byte_is_rejected_wherever_it_is(name: str) -> None:
    public, message, signature = vector(name)
    for at in range(64):
        for flip in (0x01, 0x80):
            changed = bytearray(signature)
            changed[at] ^= flip
            assert not verify_export.verify_pure(public, message, bytes(changed)), (at, flip)
            assert not nacl_verifies(public, message, bytes(changed)), (at, flip)


@pytest.mark.parametrize("name", NAMES)
def test_a_wrong_public_key_or_message_is_rejected(name: str) -> None:
    public, message, signature = vector(name)
    other = vector(NAMES[(NAMES.index(name) + 1) % len(NAMES)])[0]
    assert not verify_export.verify_pure(other, message, signature)
    assert not verify_export.verify_pure(public, message + b"\x00", signature)
    assert not verify_export.verify_pure(public[:31], message, signature)
    assert not verify_export.verify_pure(public, message, signature[:63])


def test_malleable_and_degenerate_signatures_are_refused_as_pynacl_refuses_them() -> None:
    public, message, signature = vector("TEST 2")
    s = int.from_bytes(signature[32:], "little")
    p = 2**255 - 19
    identity = (1).to_bytes(32, "little")
    cases = {
        "S + L (same point, malleated)": (
            public,
            signature[:32] + (s + verify_export._L).to_bytes(32, "little"),
        ),
        "key of small order (identity)": (identity, identity + bytes(32)),
        "key not canonical (y = p)": (p.to_bytes(32, "little"), signature),
        "key not on the curve (y = 2)": ((2).to_bytes(32, "little"), signature),
        "R not on the curve": (public, (2).to_bytes(32, "little") + signature[32:]),
    }
    for what, (key, forged) in cases.items():
        assert not verify_export.verify_pure(key, message, forged), what
        assert not nacl_verifies(key, message, forged), what


def test_the_script_passes_the_vectors_without_pynacl_installed(tmp_path: Path) -> None:
    check = tmp_path / "vectors.py"
    check.write_text(
        textwrap.dedent(
            f"""
            import json, sys
            sys.path.insert(0, {str(SCRIPT.parent)!r})
            from verify_export import nacl_verifier, verify_pure
            FIELDS = ("public_key", "message", "signature")
            assert nacl_verifier() is None and "nacl" not in sys.modules
            with open({str(ROOT / "tests" / "fixtures" / "rfc8032-vectors.json")!r}) as f:
                vectors = json.load(f)["vectors"]
            for v in vectors:
                key, msg, sig = (bytes.fromhex(v[k]) for k in FIELDS)
                bad = sig[:40] + bytes([sig[40] ^ 4]) + sig[41:]
                assert verify_pure(key, msg, sig), v["name"]
                assert not verify_pure(key, msg, bad), v["name"]
                print("passed", v["name"])
            """
        )
    )
    ran = subprocess.run(
        [sys.executable, "-c", WITHOUT_NACL, str(check)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == [f"passed {name}" for name in NAMES]


# --- Signatures and keys in an export, built here without a database ---------------------------

T = "2026-11-29T10:00:00.000000Z"


class Maker:
    """A registry and one case's entries, signed with keys made here."""

    def __init__(self) -> None:
        self.seeds = {who: SigningKey.generate() for who in ("admin", "nurse", "nurse.new")}
        self.registry: list[dict[str, Any]] = []
        self.entries: list[dict[str, Any]] = []

    def public(self, who: str) -> str:
        return base64.b64encode(bytes(self.seeds[who].verify_key)).decode()

    def sign(self, who: str, content: bytes) -> str:
        return base64.b64encode(self.seeds[who].sign(content).signature).decode()

    def act(
        self, action: str, subject: str, data: dict[str, Any], who: str | None = "admin"
    ) -> None:
        """A registry act signed by `who` (None: unsigned, as the migration wrote them)."""
        role = "nurse" if who and who.startswith("nurse") else "admin"
        signer = None if who is None else Signature(who, who, role, "approved", self.public(who))
        entry = RegistryEntry(
            len(self.registry) + 1, action, subject, data, T, signer,
            self.registry[-1]["hash"] if self.registry else GENESIS,
        )  # fmt: skip
        if who is not None:
            signed = {"signer": self.sign(who, entry.content())}
            entry = RegistryEntry(**{**entry.__dict__, "signatures": signed})
        self.registry.append({"seq": entry.seq, "hash": digest(entry.body()), "body": entry.body()})

    def step(
        self, key_of: str | None, position: int | None = None, signed_by: str | None = None
    ) -> None:
        """An entry of case 1 by the nurse naming the key of `key_of` (None: signed before
        keys), signed by `signed_by`'s key (default the same), at registry `position`."""
        seq = len(self.entries) + 1
        entry = Entry(
            case_id=1, seq=seq, action="open" if seq == 1 else "note", from_state=None,
            to_state="imaging_assessment", at=T, recorded_at=T,
            signer=Signature(
                "nurse", "Nurse", "nurse", "performed", key_of and self.public(key_of)
            ),
            data={"patient_ref": "P-1"},
            prev_hash=self.entries[-1]["hash"] if self.entries else GENESIS, registry=position,
        )  # fmt: skip
        if key_of is not None:
            signature = self.sign(signed_by or key_of, entry.content())
            entry = Entry(**{**entry.__dict__, "signatures": {"signer": signature}})
        self.entries.append(
            {"case_id": 1, "seq": seq, "hash": digest(entry.body()), "body": entry.body()}
        )

    def seal(self) -> dict[str, Any]:
        """The migration's seal over the entries so far (signed before keys)."""
        last = self.entries[-1]
        listing = [[1, last["seq"], last["hash"]]]
        text = json.dumps(listing, separators=(",", ":"))
        return {"digest": hashlib.sha256(text.encode()).hexdigest(), "cases": 1, "entries": 2}

    def export(self) -> dict[str, Any]:
        return {
            "format": "bmac-export/2", "exported_at": T, "case": None, "pseudonymized": False,
            "registry": self.registry, "entries": self.entries, "checkpoints": [],
        }  # fmt: skip


def clinic_with_a_reset_key() -> Maker:
    made = Maker()
    made.act("add", "admin", {"name": "Admin", "role": "admin", "public_key": made.public("admin")})
    made.act("add", "nurse", {"name": "Nurse", "role": "nurse", "public_key": made.public("nurse")})
    made.act("reset_pin", "nurse", {"public_key": made.public("nurse.new")})
    return made


def problems_of(document: dict[str, Any], pure: bool) -> list[str]:
    verify = verify_export.verify_pure if pure else verify_export.nacl_verifier()
    signatures = verify_export.Signatures(verify, "test")
    problems, _, _ = verify_export.check(document, None, signatures)
    return list(problems)


@pytest.mark.parametrize("pure", [False, True], ids=["pynacl", "pure"])
def test_each_entry_holds_the_key_its_signer_had_at_its_registry_position(pure: bool) -> None:
    made = clinic_with_a_reset_key()
    made.step("nurse", 2)  # before the reset: the first key
    made.step("nurse.new", 3)  # after it: the new one
    assert problems_of(made.export(), pure) == []


@pytest.mark.parametrize(
    ("key", "position"),
    [("nurse", 3), ("nurse.new", 2), ("admin", 3)],
    ids=["old key after the reset", "new key before it", "someone else's key"],
)
@pytest.mark.parametrize("pure", [False, True], ids=["pynacl", "pure"])
def test_a_key_used_where_the_registry_did_not_give_it_is_refused(
    pure: bool, key: str, position: int
) -> None:
    made = clinic_with_a_reset_key()
    made.step(key, position)  # signed properly, with the key it names: not the nurse's then
    assert problems_of(made.export(), pure) == [
        "case 1, seq 1, signed with a key that was not nurse's"
    ]


def test_an_entry_naming_a_registry_position_before_its_case_s_last_is_refused() -> None:
    made = clinic_with_a_reset_key()
    made.step("nurse.new", 3)
    made.step("nurse", 2)
    assert problems_of(made.export(), pure=True) == [
        "case 1, seq 2, entry names no registry position it could have been signed at"
    ]


@pytest.mark.parametrize("pure", [False, True], ids=["pynacl", "pure"])
def test_a_signature_by_another_key_than_the_one_named_is_refused(pure: bool) -> None:
    made = clinic_with_a_reset_key()
    made.step("nurse.new", 3, signed_by="nurse")
    assert problems_of(made.export(), pure) == [
        "case 1, seq 1, the signer's signature (nurse) does not verify"
    ]


def test_a_registry_act_signed_by_someone_not_an_admin_is_refused() -> None:
    made = clinic_with_a_reset_key()
    made.act("reset_pin", "nurse", {"public_key": made.public("nurse")}, who="nurse.new")
    assert problems_of(made.export(), pure=True) == [
        "registry, seq 4, reset_pin of nurse was signed by nurse.new, who is no active admin"
    ]


def test_a_registry_whose_first_admin_did_not_sign_their_own_addition_is_refused() -> None:
    made = Maker()
    made.act("add", "admin", {"name": "Admin", "role": "admin", "public_key": made.public("nurse")})
    assert problems_of(made.export(), pure=True) == [
        "registry, seq 1, the first operator must be an admin who signs their own addition"
    ]


def migrated_clinic() -> Maker:
    """A database from before keys: its operators migrated unsigned, its two entries sealed;
    then the admin and the nurse take their first keys."""
    made = Maker()
    made.step(None)
    made.step(None)
    made.act("migrated", "admin", {"name": "Admin", "role": "admin", "active": True}, who=None)
    made.act("migrated", "nurse", {"name": "Nurse", "role": "nurse", "active": True}, who=None)
    made.act("legacy_seal", "entries", made.seal(), who=None)
    made.act("key", "admin", {"public_key": made.public("admin")}, who="admin")
    made.act("key", "nurse", {"public_key": made.public("nurse")}, who="nurse")
    return made


def test_entries_signed_before_keys_verify_by_hash_and_are_counted() -> None:
    made = migrated_clinic()
    made.step("nurse", 5)
    signatures = verify_export.Signatures(verify_export.verify_pure, "pure")
    problems, found, registry = verify_export.check(made.export(), None, signatures)
    assert problems == []
    assert found.before_keys == 2 and signatures.checked == 3  # two keys taken, one entry
    assert registry is not None and registry.root_key == made.public("admin")


def test_an_entry_signed_before_keys_is_refused_after_a_signed_one_or_outside_the_seal() -> None:
    made = migrated_clinic()
    made.step("nurse", 5)
    made.step(None)
    assert problems_of(made.export(), pure=True) == [
        "case 1, seq 4, entry is not signed (after a signed one)",
        "registry, -, entries signed before keys differ from those the migration sealed "
        "(added, removed or rewritten)",
    ]


def test_the_root_key_is_checked_against_the_fingerprint_written_down(tmp_path: Path) -> None:
    made = clinic_with_a_reset_key()
    made.step("nurse", 2)
    path = tmp_path / "record.json"
    path.write_text(json.dumps(made.export()), encoding="utf-8")
    raw = base64.b64decode(made.public("admin"))
    right = hashlib.sha256(raw).hexdigest()[:32]
    grouped = ":".join(right[i : i + 4] for i in range(0, 32, 4))
    ok = run_verifier(str(path), "--root", grouped)
    assert ok.returncode == 0, ok.stdout
    assert f"root key fingerprint {grouped}" in ok.stdout
    wrong = run_verifier(str(path), "--root", "0" * 32)
    assert wrong.returncode == 1
    assert f"registry, -, the root key is {grouped}, not {'0' * 32}" in wrong.stdout
