"""URL canonicalisation: one place decides when two links are the same mention."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that only track the click, never change the page.
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid",
    "_hsenc", "_hsmi", "mkt_tok", "ref_src", "ref_url", "oly_anon_id", "oly_enc_id", "vero_id",
    "wt_mc", "wt_zmc", "at_medium", "at_campaign", "cmpid", "spm", "share", "feature", "si",
})
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "ga_", "hsa_")


def _is_tracking(name: str) -> bool:
    low = name.lower()
    return low in TRACKING_PARAMS or low.startswith(TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, drop default ports, fragments and tracking parameters.

    Path case and the order of the remaining parameters are kept: servers may care.
    """
    url = (url or "").strip()
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return url.split("#", 1)[0]
    host = (parts.hostname or "").lower().rstrip(".")
    port = parts.port if _safe_port(parts) else None
    netloc = host
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        netloc = f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, urlencode(query, doseq=True), ""))


def _safe_port(parts: object) -> bool:
    try:
        return getattr(parts, "port", None) is not None
    except ValueError:
        return False


def site_of(url: str) -> str:
    """The host a ``site:`` filter compares with: lower-case, without ``www.``."""
    try:
        host = (urlsplit(url or "").hostname or "").lower().rstrip(".")
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host
