"""The web UI for lab members, mounted at the site root."""

from django.urls import path

from web import account_views, feff_views, fit_builder, measurement_views, search_views, views
from web.records import flags as record_flags
from web.records import views as record_views

app_name = "web"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("samples/", views.sample_list, name="sample-list"),
    path("samples/<int:sample_id>/", views.sample_detail, name="sample-detail"),
    path("samples/<int:sample_id>/files/", views.sample_upload, name="sample-upload"),
    path("files/<int:file_id>/series.json", views.file_series, name="file-series"),
    path("files/<int:file_id>/preview.png", views.file_preview, name="file-preview"),
    path("runs/new/", views.run_new, name="run-new"),
    path("runs/<int:run_id>/", views.run_detail, name="run-detail"),
    path("fits/<int:fit_id>/", views.fit_detail, name="fit-detail"),
    path("fits/<int:fit_id>/refit/", views.fit_refit, name="fit-refit"),
    path("feff/<int:feff_id>/", feff_views.feff_detail, name="feff-detail"),
    path("fits/refit-stale/", views.refit_stale, name="refit-stale"),
    path("fit-runs/", views.fit_runs, name="fit-runs"),
    path("fit-runs/status.json", views.fit_runs_status, name="fit-runs-status"),
    path("explore/", views.explore, name="explore"),
    path("fit-builder/", fit_builder.fit_builder, name="fit-builder"),
    path("fit-builder/structures.json", fit_builder.bundled_structures,
         name="fit-builder-structures"),
    # --- account: API tokens ---
    path("account/tokens/", account_views.tokens, name="account-tokens"),
    path("account/tokens/<str:token_key>/rotate/", account_views.token_rotate,
         name="account-token-rotate"),
    path("account/tokens/<str:token_key>/revoke/", account_views.token_revoke,
         name="account-token-revoke"),
    # --- records: create / edit / retire ---
    path("samples/new/", record_views.sample_new, name="sample-new"),
    path("samples/<int:sample_id>/edit/", record_views.sample_edit, name="sample-edit"),
    path("runs/<int:run_id>/edit/", record_views.run_edit, name="run-edit"),
    path("runs/<int:run_id>/files/", record_views.run_file_upload, name="run-upload"),
    path("runs/<int:run_id>/files/<int:file_id>/unlink/", record_views.run_file_unlink,
         name="run-file-unlink"),
    path("runs/<int:run_id>/files/<int:file_id>/link/", record_views.run_file_link,
         name="run-file-link"),
    path("recipes/", record_views.recipe_list, name="recipe-list"),
    path("recipes/new/", record_views.recipe_new, name="recipe-new"),
    path("recipes/<int:recipe_id>/", record_views.recipe_detail, name="recipe-detail"),
    path("recipes/<int:recipe_id>/edit/", record_views.recipe_edit, name="recipe-edit"),
    path("chemicals/", record_views.chemical_list, name="chemical-list"),
    path("chemicals/new/", record_views.chemical_form, name="chemical-new"),
    path("chemicals/<int:chemical_id>/edit/", record_views.chemical_form, name="chemical-edit"),
    path("lots/", record_views.lot_list, name="lot-list"),
    path("lots/new/", record_views.lot_form, name="lot-new"),
    path("lots/<int:lot_id>/edit/", record_views.lot_form, name="lot-edit"),
    path("stock-solutions/", record_views.stock_list, name="stock-list"),
    path("stock-solutions/new/", record_views.stock_form, name="stock-new"),
    path("stock-solutions/<int:stock_id>/edit/", record_views.stock_form, name="stock-edit"),
    path("retire/<slug:kind>/<int:pk>/", record_views.retire, name="retire"),
    path("restore/<slug:kind>/<int:pk>/", record_views.restore, name="restore"),
    path("flags/", record_flags.flags, name="flags"),
    path("flags/<int:flag_id>/status/", record_flags.flag_status, name="flag-status"),
    # --- measurements and attachments ---
    path("samples/<int:sample_id>/measurements/<slug:kind>/", measurement_views.measurement_add,
         name="measurement-add"),
    path("samples/<int:sample_id>/sections.json", measurement_views.sample_sections,
         name="sample-sections"),
    path("measurements/<slug:kind>/<int:pk>/edit/", measurement_views.measurement_edit,
         name="measurement-edit"),
    path("measurements/<slug:kind>/<int:pk>/retire/", measurement_views.measurement_retire,
         name="measurement-retire"),
    path("files/<int:file_id>/download/", measurement_views.file_download,
         name="file-download"),
    path("samples/<int:sample_id>/files/<int:file_id>/unlink/", measurement_views.file_unlink,
         name="file-unlink"),
    path("samples/<int:sample_id>/files/<int:file_id>/link/", measurement_views.file_link,
         name="file-link"),
    path("samples/<int:sample_id>/files/<int:file_id>/declare-xas/",
         measurement_views.file_declare_xas, name="file-declare-xas"),
    # --- search and run list ---
    path("search/", search_views.search, name="search"),
    path("runs/", search_views.run_list, name="run-list"),
    # --- plots ---
]
