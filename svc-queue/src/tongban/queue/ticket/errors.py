from tongban.shared.errors import Conflict, Forbidden, NotFound


class TicketNotFound(NotFound):
    code, title = "ticket_not_found", "No such ticket"


class TicketNotHere(Conflict):
    code, title = "no_current_ticket", "The counter has no ticket in this state"


class TicketClosed(Conflict):
    code, title = "ticket_closed", "The ticket is not in a state that allows this"


class AlreadyQueued(Conflict):
    code, title = "already_queued", "You already hold a waiting ticket for this category in this hall"


class CannotTakeTicket(Forbidden):
    code, title = "cannot_take_ticket", "Tickets are taken by citizens (queue:book) or by the hall's clerks"


class AlreadyRated(Conflict):
    code, title = "already_rated", "This ticket was rated already"
