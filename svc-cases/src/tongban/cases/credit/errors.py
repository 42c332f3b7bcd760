from tongban.shared.errors import Conflict, NotFound


class CommitmentRefused(Conflict):
    """告知承诺制 is offered only to subjects whose credit allows it."""

    code, title = "commitment_refused", "The applicant's credit does not allow approval on a commitment"


class CheckNotFound(NotFound):
    code, title = "commitment_check_not_found", "No such commitment check"
