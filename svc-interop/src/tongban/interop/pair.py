"""`python -m tongban.interop.pair`: see tongban.interop.pairing."""

from tongban.interop.pairing import main

if __name__ == "__main__":
    main()
