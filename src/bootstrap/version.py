"""Version and User-Agent of this sidecar (upstream-api.md §2)."""
from importlib import metadata

try:
    VERSION = metadata.version("stigg-sidecar-py")
except metadata.PackageNotFoundError:  # running from a source tree
    VERSION = "0.0.0"

USER_AGENT = f"stigg-sidecar-py/{VERSION}"
PCS_USER_AGENT = f"stigg-persistent-cache-py/{VERSION}"
