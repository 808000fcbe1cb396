"""The whole demo: users, the three papers' synthesis and characterization data."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import Group, User
from django.db import transaction

from characterization.demo import load_characterization
from labdb.lib.permissions import CURATORS_GROUP
from synthesis.demo import DEMO_FILES, load_synthesis, read_demo_file
from synthesis.models import Paper

DEMO_USERS = {"demo": ("demo-labdb", False), "curator": ("curator-labdb", True)}


def ensure_demo_users() -> User:
    """The demo lab member and curator (passwords in the README); returns the member."""
    curators, _ = Group.objects.get_or_create(name=CURATORS_GROUP)
    users = {}
    for name, (password, is_curator) in DEMO_USERS.items():
        user, created = User.objects.get_or_create(username=name, defaults={
            "first_name": name.capitalize(), "is_staff": is_curator})
        if created:
            user.set_password(password)
            user.save()
        if is_curator:
            user.groups.add(curators)
            if not user.is_superuser:
                user.is_superuser = True
                user.save(update_fields=["is_superuser"])
        users[name] = user
    return users["demo"]


def load_demo(*, report: Callable[[str], None] = print) -> dict[str, str]:
    """Load every demo paper not loaded yet; idempotent (a loaded paper is skipped).

    Returns {paper key: "loaded" | "already loaded"}.
    """
    actor = ensure_demo_users()
    outcome = {}
    for name in DEMO_FILES:
        data = read_demo_file(name)
        key = data["paper"]["key"]
        if Paper.objects.filter(key=key).exists():
            outcome[key] = "already loaded"
            report(f"{key}: already loaded")
            continue
        with transaction.atomic():
            ctx = load_synthesis(data, actor=actor)
            load_characterization(ctx, data)
        outcome[key] = "loaded"
        report(f"{key}: loaded {len(ctx.samples)} samples, {len(ctx.recipes)} recipes, "
               f"{len(ctx.stocks)} stock solutions")
    return outcome
