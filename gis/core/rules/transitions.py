"""Which lifecycle moves the rules allow, and the checks on a move (reason, verifier)."""

from __future__ import annotations

from gis.core.rules.config import Rules, load_rules
from gis.core.rules.lifecycle import STATUS_NAMES_ZH, _norm, status_from_text
from gis.errors import TransitionError


def allowed_next(current: str, *, rules: Rules | None = None) -> tuple[str, ...]:
    """Stages a case in stage ``current`` may move to, in rules-file order.

    ``current`` may be written as :func:`status_from_text` accepts.
    """
    rules = rules or load_rules()
    return rules.transitions[status_from_text(current)]


def check_transition(current: str, new: str, *, actor: str, handler: str | None = None,
                     note: str = "", rules: Rules | None = None) -> None:
    """Refuse a status change the rules do not allow.

    Parameters
    ----------
    current, new
        Stage codes (or text that :func:`status_from_text` accepts).
    actor
        Who makes the change; required.
    handler
        Who moved the case to ``resolved`` (反馈), when recorded. A stage in
        the rules' ``not_by_handler`` (核查) must be reached by someone else;
        None means not recorded and is not checked.
    note
        The reason; required for stages in the rules' ``reason_required``
        (退回).
    rules
        Rules to use; None for the shipped rules.

    Raises
    ------
    TransitionError
        The move is not in the rules (the message lists the allowed next
        stages), a reason is missing, or the handler verifies their own work.
    InputError
        A stage that is not known.
    """
    rules = rules or load_rules()
    current, new = status_from_text(current), status_from_text(new)
    allowed = rules.transitions[current]
    if new not in allowed:
        choices = (", ".join(f"{s} ({STATUS_NAMES_ZH[s]})" for s in allowed)
                   or f"none, {current} is final")
        raise TransitionError(
            f"cannot go from {current!r} ({STATUS_NAMES_ZH[current]}) "
            f"to {new!r} ({STATUS_NAMES_ZH[new]})",
            fix=f"allowed from {current}: {choices}")
    if not isinstance(actor, str) or not actor.strip():
        raise TransitionError(f"no actor given for the move to {new!r}",
                              fix="say who makes the change (actor=…)")
    if new in rules.reason_required and not (isinstance(note, str) and note.strip()):
        raise TransitionError(
            f"moving a case to {new!r} ({STATUS_NAMES_ZH[new]}) needs a reason; the note is empty",
            field="note", fix="write why in the note, e.g. 不属于本网格，请改派")
    if (new in rules.not_by_handler and handler is not None
            and _norm(actor) == _norm(handler)):
        raise TransitionError(
            f"{actor.strip()!r} resolved this case and cannot also move it to {new!r} "
            f"({STATUS_NAMES_ZH[new]})",
            fix="verification must be done by someone other than the handler")
