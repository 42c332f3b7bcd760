from tongban.shared.errors import AppError


class SearchTimedOut(AppError):
    code, status, title = "search_timed_out", 503, "The search took too long; add words or filters"


class SearchBusy(AppError):
    """Every slot for computing a search is taken: answered at once rather than queued."""

    code, status, title = "search_busy", 503, "Too many searches at once; try again in a moment"
