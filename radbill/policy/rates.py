"""Mikrotik-Rate-Limit strings from package speeds (kbit/s). RouterOS reads them from the router's side:
rx (the customer's upload) first, then tx (the customer's download)."""

from __future__ import annotations

from dataclasses import dataclass


def format_rate(kbps: int) -> str:
    """10000 -> '10M', 512 -> '512k', 1500 -> '1500k' (RouterOS: k = 1000, M = 1000000 bit/s)."""
    if kbps <= 0:
        raise ValueError(f"a rate must be positive, got {kbps}")
    return f"{kbps // 1000}M" if kbps % 1000 == 0 else f"{kbps}k"


@dataclass(frozen=True, slots=True)
class Speeds:
    download_kbps: int
    upload_kbps: int
    burst_download_kbps: int | None = None
    burst_upload_kbps: int | None = None
    burst_threshold_download_kbps: int | None = None
    burst_threshold_upload_kbps: int | None = None
    burst_time_seconds: int | None = None

    def rate_limit(self) -> str:
        """'rx/tx [burst-rx/burst-tx threshold-rx/threshold-tx time/time]'."""
        text = f"{format_rate(self.upload_kbps)}/{format_rate(self.download_kbps)}"
        if self.burst_download_kbps and self.burst_upload_kbps:
            threshold_up = self.burst_threshold_upload_kbps or self.upload_kbps * 3 // 4
            threshold_down = self.burst_threshold_download_kbps or self.download_kbps * 3 // 4
            seconds = self.burst_time_seconds or 8
            text += (f" {format_rate(self.burst_upload_kbps)}/{format_rate(self.burst_download_kbps)}"
                     f" {format_rate(threshold_up)}/{format_rate(threshold_down)} {seconds}/{seconds}")
        return text


_UNIT_KBPS = {"": None, "k": 1, "M": 1000}


def parse_rate_limit(text: str) -> Speeds:
    """A RouterOS "rx/tx" rate such as the walled garden's "256k/256k" (rx = the customer's upload) -> Speeds,
    so routers of other types get the same rate in their own attributes. A bare number is bit/s (RouterOS)."""
    parts = text.strip().split()[0].split("/") if text.strip() else []
    if len(parts) not in (1, 2):
        raise ValueError(f"not a rate limit: {text!r}")
    kbps = []
    for part in parts:
        unit = part[-1] if part[-1:] in ("k", "M") else ""
        number = int(part[:-1] if unit else part)
        kbps.append(max(1, number // 1000) if _UNIT_KBPS[unit] is None else number * _UNIT_KBPS[unit])
    upload, download = (kbps[0], kbps[-1])
    return Speeds(download_kbps=download, upload_kbps=upload)
