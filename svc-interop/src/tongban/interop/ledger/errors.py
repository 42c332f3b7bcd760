from tongban.shared.errors import NotFound


class MessageNotLogged(NotFound):
    code, title = "message_not_logged", "No message with this id is in the log"
