from tongban.shared.config import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("CATALOG_")
    # Build the in-process search index at startup (search.index); false: every search is one SQL statement.
    search_index: bool = True
