"""The fault-execution core: the campaign loop, its runners, checkpoints, specs, shards and Dask."""
from __future__ import annotations

from readlx.campaign.loop import CampaignOptions, noop_control, run_campaign
from readlx.campaign.runners.reference import run_fault

__all__ = ["CampaignOptions", "noop_control", "run_campaign", "run_fault"]
