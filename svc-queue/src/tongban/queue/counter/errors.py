from tongban.shared.auth import OutsideScope
from tongban.shared.errors import Conflict, NotFound


class CounterNotFound(NotFound):
    code, title = "counter_not_found", "No such counter"


class CounterNumberTaken(Conflict):
    code, title = "counter_number_taken", "The hall already has a counter with this number"


class NotYourHall(OutsideScope):
    """A clerk outside their halls (the policy's scope "hall"): audited like every staff refusal."""

    title = "Clerks act only within their own halls"


class CounterNotOpen(Conflict):
    code, title = "counter_not_open", "Nobody is signed in to this counter, or it is paused"


class CounterTaken(Conflict):
    code, title = "counter_taken", "Another clerk is signed in to this counter"


class CounterBusy(Conflict):
    code, title = "counter_busy", "The counter is still serving a ticket"


class ClerkElsewhere(Conflict):
    code, title = "clerk_signed_in_elsewhere", "The clerk is signed in to another counter"
