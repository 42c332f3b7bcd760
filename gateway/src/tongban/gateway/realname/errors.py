from tongban.shared.errors import AppError, Conflict


class InvalidProviderAnswer(AppError):
    code, status, title = "invalid_provider_answer", 422, "The real-name provider's answer does not hold"


class UnknownProvider(AppError):
    code, status, title = "unknown_provider", 422, "No such real-name provider here"


class AnswerForAnotherPerson(AppError):
    code, status, title = "answer_for_another_person", 422, "The provider checked another ID number"


class AnswerUsed(Conflict):
    code, title = "provider_answer_used", "This provider answer was used already"
