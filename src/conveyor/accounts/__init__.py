"""Per-owner accounts of connections: credentials stored sealed, OAuth2 authorization code with
PKCE, tokens refreshed single-flight across processes (docs/accounts.md).

`core` is pure (PKCE, state, the refresh decision, token answers); `envelope` seals secrets;
`oauth` is the auth kind a connection declares; `tokens` is the live side a call uses;
`registry` is `app.accounts`.
"""

from .core import TokenGrant
from .envelope import Keyring, generate_key
from .oauth import OAuth2AuthorizationCode
from .registry import Account, AccountCheck, AccountRegistry

__all__ = [
    "Account",
    "AccountCheck",
    "AccountRegistry",
    "Keyring",
    "OAuth2AuthorizationCode",
    "TokenGrant",
    "generate_key",
]
