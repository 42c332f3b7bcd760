from tongban.shared.errors import Conflict, Forbidden, NotFound


class SlotTemplateNotFound(NotFound):
    code, title = "slot_not_found", "No such slot"


class AppointmentNotFound(NotFound):
    code, title = "appointment_not_found", "No such appointment"


class SlotFull(Conflict):
    code, title = "slot_full", "This slot is fully booked"


class AlreadyBooked(Conflict):
    code, title = "already_booked", "You already have a booking for this category on this day"


class HoldExpired(Conflict):
    code, title = "hold_expired", "The hold expired before it was confirmed"


class AppointmentClosed(Conflict):
    code, title = "appointment_not_active", "The appointment is not in a state that allows this"


class BookingSuspended(Forbidden):
    code, title = "booking_suspended", "Booking is suspended after repeated no-shows"


class NotCheckInTime(Conflict):
    code, title = "not_check_in_time", "Check-in opens shortly before the slot and closes at its end"
