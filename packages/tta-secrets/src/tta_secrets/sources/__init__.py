"""Where secrets come from: the environment, ``.env`` files and Vault KV v2."""

from tta_secrets.sources.base import SecretSource
from tta_secrets.sources.dotenv import DotenvSource
from tta_secrets.sources.env import EnvSource
from tta_secrets.sources.vault import VaultSource
from tta_secrets.sources.vault_client import KVVersion, VaultClient

__all__ = ["DotenvSource", "EnvSource", "KVVersion", "SecretSource", "VaultClient", "VaultSource"]
