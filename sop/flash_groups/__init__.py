"""Flash groups (快闪群): the ``flash_group`` calendar kind (see ``campaigns``)."""

from sop.flash_groups.campaigns import feature, run_flash_group, tick

__all__ = ["feature", "run_flash_group", "tick"]
