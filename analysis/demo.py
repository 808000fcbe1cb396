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
# Owner of the demo records when no demo accounts are wanted: inactive, no usable password.
DEMO_LOADER = "labdb-demo-loader"


def ensure_demo_loader() -> User:
    """The account that owns demo records loaded without demo users (cannot log in)."""
    user, created = User.objects.get_or_create(
        username=DEMO_LOADER, defaults={"first_name": "Demo data", "is_active": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def ensure_demo_users() -> User:
    """The demo lab member and curator (passwords in the README); returns the member."""
    curators, _ = Group.objects.get_or_create(name=CURATORS_GROUP)
    users = {}
    for name, (password, is_curator) in DEMO_USERS.items():
        user, created = User.objects.get_or_create(
            username=name, defaults={"first_name": name.capitalize(), "is_staff": is_curator}
        )
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


def load_demo(
    *, report: Callable[[str], None] = print, with_fits: bool = True, demo_users: bool = True
) -> dict[str, str]:
    """Load every demo paper not loaded yet; idempotent (a loaded paper is skipped).

    ``with_fits`` also fits the real CdS and ZnSe reference spectra (a few seconds).
    ``demo_users`` creates the demo accounts with their README passwords (the records' owner is
    then ``demo``); without it an inactive loader account owns them.
    Returns {paper key: "loaded" | "already loaded"}.
    """
    actor = ensure_demo_users() if demo_users else ensure_demo_loader()
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
        report(
            f"{key}: loaded {len(ctx.samples)} samples, {len(ctx.recipes)} recipes, "
            f"{len(ctx.stocks)} stock solutions"
        )
    from analysis.services.aging import load_demo_aging_study

    study = load_demo_aging_study(actor)
    report(f"aging study: {study}")
    if with_fits:
        load_reference_fits(actor=actor, report=report)
    return outcome


# --- computed reference fits (issue 4): real CdS and ZnSe spectra, FEFF paths offline --------


def _xas_dir():
    from django.conf import settings

    return settings.BASE_DIR.parent / "shared" / "data" / "xas"


def _transform(kmax: float, rmin: float, rmax: float) -> dict:
    return {
        "kmin": 3,
        "kmax": kmax,
        "kweight": 2,
        "dk": 2,
        "window": "hanning",
        "rmin": rmin,
        "rmax": rmax,
    }


def _shell_model(
    *,
    dataset: str,
    absorber: str,
    scatterer: str,
    structure: dict,
    r_window: tuple[float, float],
    kmax: float,
    r_range: tuple[float, float],
    s02: dict,
    n: str | None,
) -> dict:
    path = {
        "label": f"{absorber}-{scatterer}",
        "s02": "s02",
        "e0": "de0",
        "deltar": "dr",
        "sigma2": "ss2",
        "select": {
            "absorber": absorber,
            "scatterer": scatterer,
            "r_min_a": r_window[0],
            "r_max_a": r_window[1],
        },
    }
    parameters = {
        "s02": s02,
        "de0": {"kind": "guess", "value": 0.0},
        "dr": {"kind": "guess", "value": 0.0},
        "ss2": {"kind": "guess", "value": 0.004, "min": 0},
    }
    if n:
        path["n"] = "n1"
        parameters["n1"] = {"kind": "guess", "value": 4.0, "min": 0}
    return {
        "feff": {
            "structure": structure,
            "absorber": absorber,
            "edge": "K",
            "cluster_radius_a": 5.0,
            "feff_version": 6,
        },
        "parameters": parameters,
        "datasets": [
            {
                "id": dataset,
                "processing": {
                    "pre_edge": {},
                    "autobk": {"rbkg": 1.0, "kweight": 2},
                    "xftf": {"kmin": 3, "kmax": kmax, "kweight": 2, "dk": 2, "window": "hanning"},
                },
                "transform": _transform(kmax, *r_range),
                "paths": [path],
            }
        ],
    }


ZNSE_LATTICE = {
    "source": "lattice",
    "kind": "zincblende",
    "a_a": 5.6676,
    "cation": "Zn",
    "anion": "Se",
}
REFERENCE_FITS = (
    # (sample code, file, model) — S0² of CdS transferred from the CdO co-fit (0.728).
    (
        "REF-CdS-bulk",
        "xasdatalibrary/CdS_10K_01.xdi",
        _shell_model(
            dataset="cds_10k",
            absorber="Cd",
            scatterer="S",
            structure={"source": "amcsd", "elements": ["Cd", "S"], "amcsd_id": 15177},
            r_window=(2.3, 2.8),
            kmax=14,
            r_range=(1.5, 2.8),
            s02={"kind": "set", "value": 0.728},
            n="n1",
        ),
    ),
    (
        "REF-ZnSe-bulk",
        "xdi/zn_znse_rt.xdi",
        _shell_model(
            dataset="znse_zn_k",
            absorber="Zn",
            scatterer="Se",
            structure=ZNSE_LATTICE,
            r_window=(2.3, 2.6),
            kmax=12,
            r_range=(1.5, 3.0),
            s02={"kind": "guess", "value": 1.0},
            n=None,
        ),
    ),
    (
        "REF-ZnSe-bulk",
        "xdi/se_znse_rt.xdi",
        _shell_model(
            dataset="znse_se_k",
            absorber="Se",
            scatterer="Zn",
            structure=ZNSE_LATTICE,
            r_window=(2.3, 2.6),
            kmax=12,
            r_range=(1.5, 3.0),
            s02={"kind": "guess", "value": 1.0},
            n=None,
        ),
    ),
)


def load_reference_fits(*, actor, report: Callable[[str], None] = print) -> int:
    """Attach the real CdS / ZnSe spectra to the reference samples and fit them (idempotent).

    The samples are marked as reference compounds; the fits are ``computed`` and sit beside the
    published ones. Returns the number of fit runs requested.
    """
    from analysis.models import FitRun
    from analysis.services import request_fit_run
    from characterization.models import XASSpectrum
    from characterization.services import attach_data_file
    from synthesis.models import Sample

    requested = 0
    for code, relative, model in REFERENCE_FITS:
        path = _xas_dir() / relative
        sample = Sample.objects.get(code=code)
        data_file, _ = attach_data_file(
            content=path.read_bytes(), filename=path.name, sample=sample, actor=actor
        )
        # one stored file may belong to several samples: this sample's spectrum
        spectrum = XASSpectrum.objects.get(data_file=data_file, sample=sample)
        if FitRun.objects.filter(spectrum=spectrum).exists():
            continue
        run = request_fit_run(spectrum=spectrum, model=model, actor=actor)
        requested += 1
        run.refresh_from_db()
        report(f"{code} {spectrum.element} {spectrum.edge}: fit run {run.pk} {run.status}")
    return requested
