from tongban.shared.errors import NotFound


class ReferralNotFound(NotFound):
    code, title = "referral_not_found", "No such referral"
