from tongban.shared.config import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("INTEROP_")
