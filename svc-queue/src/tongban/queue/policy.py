"""Who may do what in svc-queue, in one table (tongban.shared.policy): every route names one of
these permissions and nothing else decides who may call it. Read top to bottom.

Clerks act within their halls (`scope="hall"`: the token's `halls`): tickets, counters, calling,
a hall's appointments and statistics. A person's own tickets and appointments are the account's
(`person_sub`; checked where the record is read, in ticket/ and appointment/). Booking and
taking a number need no verified real name — a self-declared account browses, books and asks —
but an appointment tied to a case (`case_id`) does: cases are keyed by the resident's ID number.
"""



from tongban.shared.auth import InsufficientScope, NotOwner, OutsideScope, RealNameRequired
from tongban.shared.errors import Unauthorized
from tongban.shared.policy import NotPermitted, Policy, Rule, everyone, route_helpers

ADMIN = Rule("admin", scopes=("queue:admin",))
HALL_CLERK = Rule("clerk", scopes=("queue:operate",), scope="hall")
PEOPLE = (Rule("citizen"), Rule("company"))
BOOKERS = (Rule("citizen", scopes=("queue:book",)), Rule("company", scopes=("queue:book",)))


POLICY = Policy("queue", {
    # Halls, their calendars, counters, slots and live boards: public; managed by admins.
    "hall.read": everyone(),
    "hall.manage": (ADMIN,),
    "live.read": everyone(),
    # Tickets (取号/叫号).
    "ticket.take": (*BOOKERS, HALL_CLERK),
    "ticket.mine": PEOPLE,
    "ticket.read": (*PEOPLE, HALL_CLERK, ADMIN),
    "ticket.cancel": (*PEOPLE, HALL_CLERK),
    "ticket.rate": PEOPLE,
    "hall_ticket.list": (HALL_CLERK,),
    "counter.operate": (HALL_CLERK,),
    # Appointments (云预约).
    "appointment.book": BOOKERS,
    # Booking or taking a number tied to a case (`case_id`): the case is keyed by the ID number.
    "case_linked.book": (Rule("citizen", scopes=("queue:book",), level="verified"),
                                  Rule("company", scopes=("queue:book",))),
    "appointment.mine": PEOPLE,
    "appointment.read": (*PEOPLE, HALL_CLERK, ADMIN),
    "appointment.change": PEOPLE,
    "appointment.check_in": (*PEOPLE, HALL_CLERK),
    "hall_appointment.list": (HALL_CLERK, ADMIN),
    "appointment.sweep": (ADMIN,),
    # Statistics: a hall's for its clerks and admins, the city's for admins.
    "hall_stats.read": (HALL_CLERK, ADMIN),
    "city_stats.read": (ADMIN,),
    # The city's service dashboard: its page is public (it holds no figures), its figures are for
    # those who run the city's service — admins, and auditor accounts (the platform's read-only
    # oversight role: city managers) — by the scope `queue:dashboard`, which a wall screen's token
    # may carry alone (the gateway narrows a token to the scopes asked for).
    "dashboard.page": everyone(),
    "dashboard.read": (Rule("admin", scopes=("queue:dashboard",)), Rule("auditor", scopes=("queue:dashboard",))),
    # The shared audit trail route.
    "audit.read": (Rule("admin", scopes=("audit:read",)), Rule("auditor", scopes=("audit:read",))),
})

# People reach, under these permissions, only the records their own account made (a ticket's or an
# appointment's `person_sub`, or its ID number); checked where the record is read (ticket/ and
# appointment/ `get_visible`). Staff reach them by the hall scope above.
OWNED_BY_ACCOUNT = frozenset({"ticket.read", "ticket.cancel", "ticket.rate", "appointment.read",
                              "appointment.change", "appointment.check_in"})

PLATFORM_ROUTES = {"GET /api/v1/queue/audit-events": "audit.read"}
ERRORS = (Unauthorized, InsufficientScope, NotPermitted, RealNameRequired, OutsideScope, NotOwner)


# How routes name their permission (tongban.shared.policy.route_helpers).
Can, Caller, Public = route_helpers(POLICY)
