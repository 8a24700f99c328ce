"""The commands that log a step, made from the step declarations (steps.py): each command's
options come from its data model's fields (step_data.py), its help from the declaration and
an example from the model. A group (`bmac step`, `bmac case`, `bmac followup`) lists the steps
declared under its name when it is asked, so that a step added to the declarations has its
command without any code here.
"""

from __future__ import annotations

import shlex
import typing
from typing import TYPE_CHECKING, Any

import click

from .app import App
from .options import AT_HELP, LATE_HELP

if TYPE_CHECKING:
    from ..step_data import StepData
    from ..steps import Step


class DeclaredGroup(click.Group):
    """A command group whose commands are its own plus the steps declared under its name."""

    def _declared(self) -> dict[str, Step]:
        from ..states import workflow

        return {s.name: s for s in workflow().steps if s.group == self.name}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self._declared()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        step = self._declared().get(cmd_name)
        if step is not None:
            return step_command(step)
        return super().get_command(ctx, cmd_name)


def step_command(step: Step) -> click.Command:
    """The click command that logs `step`."""
    return StepCommand(step)


class StepCommand(click.Command):
    """A step's command. Its options and help are read from the step's data model only when
    they are shown or parsed, so that listing the commands of a group loads no pydantic."""

    def __init__(self, step: Step) -> None:
        self.step = step
        self._built: list[click.Parameter] | None = None
        super().__init__(
            step.name, callback=click.pass_obj(_callback(step)), short_help=step.summary
        )

    @property
    def params(self) -> list[click.Parameter]:
        if self._built is None:
            self._built = _params(self.step)
        return self._built

    @params.setter
    def params(self, value: list[click.Parameter]) -> None:
        self._built = value or None

    @property
    def help(self) -> str:
        return f"{self.step.summary}\n\n\b\nExample:\n  {example(self.step)}"

    @help.setter
    def help(self, value: str | None) -> None:
        pass  # the help is the declaration's


def _params(step: Step) -> list[click.Parameter]:
    """The CASE argument, the model's options, --reason if the step takes one, and --at."""
    from .options import case_argument

    params: list[click.Parameter] = []
    if step.model is not None:
        params += [_option(step.model, name) for name in _typed_fields(step.model)]
    if step.reason is not None:
        params.append(
            click.Option(
                ["--reason"], required=step.reason_required, metavar="TEXT", help=step.reason
            )
        )
    params.append(click.Option(["--at"], metavar="TIME", help=AT_HELP))
    params.append(click.Option(["--late-reason"], metavar="TEXT", help=LATE_HELP))

    def holder() -> None:
        pass

    case_argument()(holder)
    return [*holder.__click_params__, *params]  # type: ignore[attr-defined]


def _typed_fields(model: type[StepData]) -> list[str]:
    from ..step_data import option_meta

    return [
        name
        for name in model.model_fields
        if name not in model.computed and not option_meta(model, name).hidden
    ]


def _option(model: type[StepData], name: str) -> click.Option:
    """The click option of one field: its type, whether it is required, its help."""
    from ..step_data import option_meta

    meta = option_meta(model, name)
    field = model.model_fields[name]
    flag = meta.flag or "--" + name.replace("_", "-")
    annotation = _bare(field.annotation)
    default = None if field.is_required() else field.get_default(call_default_factory=True)
    kwargs: dict[str, Any] = {"help": meta.help or None, "metavar": meta.metavar}
    if not field.is_required():
        kwargs["default"] = default
    if annotation is bool:
        decls = [f"{flag}/--no-{flag.removeprefix('--')}" if meta.negative else flag, name]
        kwargs["default"] = bool(default)
        return click.Option(decls, is_flag=True, show_default=meta.negative, **kwargs)
    if meta.repeat:
        kwargs.pop("default", None)
        return click.Option([flag, name], multiple=True, **kwargs)
    if typing.get_origin(annotation) is typing.Literal:
        kwargs["type"] = click.Choice([str(v) for v in typing.get_args(annotation)])
        kwargs.pop("metavar")
    elif annotation in (int, float):
        from .options import StrictNumber

        kwargs["type"] = StrictNumber(annotation)
    return click.Option(
        [flag, name],
        required=field.is_required(),
        show_default=default is not None and default != [],
        **kwargs,
    )


def _bare(annotation: Any) -> Any:
    """`X` from `X | None` and from `Annotated[X, ...]`; the annotation itself otherwise."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if type(None) in typing.get_args(annotation) and len(args) == 1:
        return _bare(args[0])
    if typing.get_origin(annotation) is typing.Annotated:
        return _bare(typing.get_args(annotation)[0])
    return annotation


def _values(model: type[StepData], typed: dict[str, Any]) -> dict[str, Any]:
    """The step's raw values from what was typed (a split list split, a repeated one listed)."""
    from ..step_data import option_meta

    values: dict[str, Any] = {}
    for name in _typed_fields(model):
        value = typed.get(name)
        meta = option_meta(model, name)
        if meta.split and isinstance(value, str):
            value = [part.strip().lower() for part in value.split(meta.split) if part.strip()]
        elif meta.repeat:
            value = list(value or ())
        values[name] = value
    return values


def _callback(step: Step) -> Any:
    def run(
        app: App,
        case_id: int,
        at: str | None,
        late_reason: str | None,
        reason: str | None = None,
        **typed: Any,
    ) -> None:
        from ..services.cases import StepRequest, log_step
        from ..states import workflow

        values = _values(step.model, typed) if step.model is not None else {}
        verifier = app.verifier(values[step.verifier_field]) if step.verifier_field else None
        change = log_step(
            StepRequest(case_id, step.trigger, values, at, reason, late_reason),
            app.credentials(),
            app.now,
            app.database(),
            verifier,
        )
        entry = change.entry
        move = (
            entry.to_state
            if entry.from_state == entry.to_state
            else f"{entry.from_state} -> {entry.to_state}"
        )
        click.echo(f"case {case_id}: {step.trigger} logged as entry {entry.seq} ({move})")
        if step.model is not None:
            for line in step.model.outcome(entry.data):
                click.echo(line)
        following = workflow().next_step(change.case.state)
        if following:
            click.echo(f"next: {workflow().command(following)} {case_id}")

    return run


def example(step: Step) -> str:
    """A command line that logs `step` on case 1, from the model's example values."""
    from ..roles import NURSE
    from ..step_data import option_meta

    operator = "nurse.kim" if NURSE in step.roles else "dr.park"
    words = ["bmac", "--operator", operator, *step.command.split(), "1"]
    prefix = ""
    model = step.model
    for name, value in (model.example if model is not None else {}).items():
        meta = option_meta(model, name)  # type: ignore[arg-type]
        flag = meta.flag or "--" + name.replace("_", "-")
        if meta.verifier:
            prefix = "BMAC_VERIFIER_PIN=... "
        if value is True:
            words.append(flag)
        elif isinstance(value, list) and meta.split:
            words += [flag, meta.split.join(value)]
        elif isinstance(value, list):
            for item in value:
                words += [flag, str(item)]
        else:
            words += [flag, str(value)]
    if step.reason_example:
        words += ["--reason", step.reason_example]
    return prefix + shlex.join(words)
