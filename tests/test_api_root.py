"""/api/ is one root listing every endpoint of the synthesis, characterization and analysis
APIs (each app's DefaultRouter alone would list only its own)."""

from __future__ import annotations

from characterization.api.urls import router as characterization_router
from synthesis.api.urls import router as synthesis_router

# Endpoints outside the two routers, with the URL the root must give for each.
OTHER_ENDPOINTS = {
    "analysis/aging": "/api/analysis/aging/",
    "analysis/correlation": "/api/analysis/correlation/",
    "analysis/frame": "/api/analysis/frame/",
    "analysis-runs": "/api/analysis-runs/",
    "analysis-runs/kinds": "/api/analysis-runs/kinds/",
    "qy-standards": "/api/qy-standards/",
    "auth/login": "/api/auth/login/",
    "auth/logout": "/api/auth/logout/",
    "feff-calculations": "/api/feff-calculations/",
    "fit-comparison": "/api/fit-comparison/",
    "fit-runs": "/api/fit-runs/",
    "fit-runs/refit-stale": "/api/fit-runs/refit-stale/",
    "manual-measurements": "/api/manual-measurements/",
}


def test_api_root_lists_every_registered_list_route(api):
    response = api.get("/api/")
    assert response.status_code == 200
    root = response.json()
    routers = [prefix for router in (synthesis_router, characterization_router)
               for prefix, _viewset, _basename in router.registry]
    expected = {prefix: f"http://testserver/api/{prefix}/" for prefix in routers}
    expected.update({name: f"http://testserver{url}" for name, url in OTHER_ENDPOINTS.items()})
    assert root == dict(sorted(expected.items()))


def test_api_root_links_answer(api):
    """Every listed endpoint that reads answers a GET (the POST-only ones are left out)."""
    root = api.get("/api/").json()
    post_only = {"auth/login", "auth/logout", "manual-measurements", "fit-runs/refit-stale"}
    statuses = {name: api.get(url).status_code for name, url in root.items()
                if name not in post_only}
    # these three need query parameters (which sample, which columns): 400 names them
    need_parameters = {"analysis/aging", "analysis/correlation", "fit-comparison"}
    assert {name: status for name, status in statuses.items() if name in need_parameters} == {
        name: 400 for name in need_parameters}
    assert {name for name, status in statuses.items() if status != 200} == need_parameters
