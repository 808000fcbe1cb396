"""Create, edit and retire records from the web UI. Thin: build the forms, call one service.

Permissions are the API's: any lab member creates; the owner or a curator edits and retires
(anyone else gets 403 and sees no edit button); anonymous users are sent to the login page.
Every save states the version the form was opened at; a stale one is refused (HTTP 409) with who
changed the record, its current values, and the user's entries kept.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from labdb.lib.errors import ConflictError, DomainError, LabdbError
from labdb.lib.permissions import can_edit
from labdb.lib.records import create_record, restore_record, retire_record, retired_message
from synthesis import selectors, services
from synthesis.models import Chemical, ChemicalLot, Recipe, Sample, StockSolution, SynthesisRun
from web.records import forms as f
from web.records.editor import Conflict, Editor, grow

PAGE_SIZE = 100


@dataclass(frozen=True)
class Kind:
    """A kind of record the UI edits: how to find live ones and where they are shown."""

    label: str
    model: type
    list_url: str

    def live(self):
        return self.model.objects.filter(is_retired=False)


KINDS = {
    "sample": Kind("sample", Sample, "web:sample-list"),
    "run": Kind("run", SynthesisRun, "web:run-list"),
    "recipe": Kind("recipe", Recipe, "web:recipe-list"),
    "chemical": Kind("chemical", Chemical, "web:chemical-list"),
    "lot": Kind("chemical lot", ChemicalLot, "web:lot-list"),
    "stock": Kind("stock solution", StockSolution, "web:stock-list"),
}


def detail_url(kind: str, obj) -> str:
    return {
        "sample": lambda: reverse("web:sample-detail", args=[obj.pk]),
        "run": lambda: reverse("web:run-detail", args=[obj.pk]),
        "recipe": lambda: reverse("web:recipe-detail", args=[obj.pk]),
        "chemical": lambda: reverse("web:chemical-list") + f"#chemical-{obj.pk}",
        "lot": lambda: reverse("web:lot-list") + f"#lot-{obj.pk}",
        "stock": lambda: reverse("web:stock-list") + f"#stock-{obj.pk}",
    }[kind]()


def retired_page(request, kind: str, obj, *, status: int, error=None, reason=""):
    """The page of a retired record: why it is read-only, and Restore for its owner/curators."""
    return render(request, "web/records/restore.html", {
        "obj": obj, "kind": kind, "label": KINDS[kind].label, "message": retired_message(obj),
        "may_restore": can_edit(request.user, obj), "error": error, "reason": reason,
    }, status=status)


def refuse_if_retired(kind: str, pk_arg: str, *, status: int = 409):
    """Decorate a record's page or edit view: a retired record answers its retired page
    (409 for edits — read-only until restored; 410 for its detail page) instead."""
    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            obj = KINDS[kind].model.objects.filter(pk=kwargs.get(pk_arg), is_retired=True).first()
            if obj is not None:
                return retired_page(request, kind, obj, status=status)
            return view(request, *args, **kwargs)
        return wrapper
    return decorate


def _editable(request, kind: str, pk: int):
    obj = get_object_or_404(KINDS[kind].live(), pk=pk)
    if not can_edit(request.user, obj):
        raise PermissionDenied(f"Only the owner of this {KINDS[kind].label} or a curator may "
                               "change it.")
    return obj


def _display(obj, name: str) -> str:
    getter = getattr(obj, f"get_{name}_display", None)
    value = getter() if getter else getattr(obj, name)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value in (None, ""):
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def conflict_for(obj, editor: Editor) -> Conflict:
    """Who changed ``obj`` last (from its history) and the values stored now."""
    current = type(obj).objects.get(pk=obj.pk)
    last = current.history.order_by("-history_date", "-history_id").first()
    user = last.history_user.get_username() if last and last.history_user else "someone"
    values = [(field.label or name, _display(current, name))
              for name, field in editor.main.fields.items()
              if name != "version" and hasattr(current, name) and name != "products"]
    return Conflict(user=user, version=current.version, current=values)


def edit_page(request, *, kind: str, instance, build, save, template: str, context=None):
    """GET: the forms; POST: "+ row" buttons re-render, else one service call or the errors."""
    context = dict(context or {})
    context["cancel_url"] = (detail_url(kind, instance) if instance is not None
                             else reverse(KINDS[kind].list_url))
    if request.method == "POST":
        data = request.POST
        add_row = data.get("add_row")
        add_addition = data.get("add_addition")
        if add_row or add_addition:
            if add_addition:
                data = data.copy()
                key = f"{add_addition}-addition_rows"
                data[key] = str(int(data.get(key) or f.MIN_ADDITION_ROWS) + 1)
            editor = build(grow(data, add_row) if add_row else data)
            return render(request, template, {**context, "editor": editor, "unvalidated": True,
                                              "instance": instance, "kind": kind})
        editor, status = build(data), 400
        if editor.is_valid():
            try:
                obj, message = save(editor)
            except ConflictError:
                editor.conflict, status = conflict_for(instance, editor), 409
            except DomainError as exc:
                editor.show_domain_error(exc)
            else:
                messages.success(request, message)
                return redirect(detail_url(kind, obj))
        return render(request, template, {**context, "editor": editor, "instance": instance,
                                          "kind": kind}, status=status)
    return render(request, template, {**context, "editor": build(None), "instance": instance,
                                      "kind": kind})


def _version(editor: Editor):
    return editor.main.cleaned_data.get("version")


# --- samples -------------------------------------------------------------------------------

@login_required
def sample_new(request):
    def save(editor):
        sample = services.create_sample(actor=request.user, **f.sample_kwargs(editor))
        return sample, f"Sample {sample.code} created."

    return edit_page(request, kind="sample", instance=None, template="web/records/form.html",
                     build=lambda data: f.sample_editor(data, None), save=save,
                     context={"title": "New sample"})


@login_required
@refuse_if_retired("sample", "sample_id")
def sample_edit(request, sample_id: int):
    sample = _editable(request, "sample", sample_id)

    def save(editor):
        kwargs = f.sample_kwargs(editor)
        updated = services.update_sample(
            sample=sample, expected_version=_version(editor), changes=kwargs["data"],
            layers=kwargs["layers"], parents=kwargs["parents"], actor=request.user)
        return updated, f"Sample {updated.code} saved."

    return edit_page(request, kind="sample", instance=sample, template="web/records/form.html",
                     build=lambda data: f.sample_editor(data, sample), save=save,
                     context={"title": f"Edit sample {sample.code}"})


# --- runs ----------------------------------------------------------------------------------

@login_required
@refuse_if_retired("run", "run_id")
def run_edit(request, run_id: int):
    _editable(request, "run", run_id)
    run = get_object_or_404(selectors.run_list().select_related("recipe"), pk=run_id)

    def save(editor):
        updated = services.update_run(run=run, expected_version=_version(editor),
                                      actor=request.user, **f.run_kwargs(editor))
        return updated, f"Run {updated.code} saved."

    return edit_page(request, kind="run", instance=run, template="web/records/run_form.html",
                     build=lambda data: f.run_editor(data, run), save=save,
                     context={"title": f"Edit run {run.code}", "run": run})


# --- recipes -------------------------------------------------------------------------------

@login_required
def recipe_list(request):
    recipes = selectors.recipe_list().filter(is_current=True).order_by("name")
    return render(request, "web/records/recipe_list.html", {"recipes": recipes})


@login_required
@refuse_if_retired("recipe", "recipe_id", status=410)
def recipe_detail(request, recipe_id: int):
    recipe = get_object_or_404(selectors.recipe_list().select_related("previous_version"),
                               pk=recipe_id)
    runs = recipe.runs.filter(is_retired=False).order_by("-started_at", "code")
    return render(request, "web/records/recipe_detail.html", {
        "recipe": recipe, "runs": runs, "can_edit": can_edit(request.user, recipe),
        "later": Recipe.objects.filter(slug=recipe.slug, is_current=True, is_retired=False)
        .exclude(pk=recipe.pk).first()})


@login_required
def recipe_new(request):
    copy_of = None
    if (raw := request.GET.get("copy", "")).isdigit():
        copy_of = get_object_or_404(selectors.recipe_list(), pk=int(raw))

    def save(editor):
        recipe = services.create_recipe(actor=request.user,
                                        **f.recipe_kwargs(editor, create=True))
        return recipe, f"Recipe {recipe.name} (v1) created."

    return edit_page(request, kind="recipe", instance=None,
                     template="web/records/recipe_form.html",
                     build=lambda data: f.recipe_editor(data, None, copy_of=copy_of), save=save,
                     context={"title": "New recipe", "copy_of": copy_of})


@login_required
@refuse_if_retired("recipe", "recipe_id")
def recipe_edit(request, recipe_id: int):
    _editable(request, "recipe", recipe_id)
    recipe = get_object_or_404(selectors.recipe_list(), pk=recipe_id)
    used = recipe.runs.count()

    def save(editor):
        new = services.revise_recipe(recipe=recipe, expected_version=_version(editor),
                                     actor=request.user, **f.recipe_kwargs(editor, create=False))
        if new.pk != recipe.pk:
            return new, (f"Saved as version {new.version_number}; the {used} run(s) of version "
                         f"{recipe.version_number} keep it.")
        return new, f"Recipe {new.name} saved."

    return edit_page(request, kind="recipe", instance=recipe,
                     template="web/records/recipe_form.html",
                     build=lambda data: f.recipe_editor(data, recipe), save=save,
                     context={"title": f"Edit recipe {recipe.name}", "used": used})


# --- chemicals, lots, stock solutions ------------------------------------------------------

def _page(request, qs):
    return Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))


@login_required
def chemical_list(request):
    qs = selectors.chemical_list().order_by("name")
    return render(request, "web/records/chemical_list.html", {"page_obj": _page(request, qs)})


@login_required
def lot_list(request):
    qs = selectors.lot_list().order_by("chemical__name", "lot_number")
    return render(request, "web/records/lot_list.html", {"page_obj": _page(request, qs)})


@login_required
def stock_list(request):
    qs = selectors.stock_list().order_by("code")
    return render(request, "web/records/stock_list.html", {"page_obj": _page(request, qs)})


def _simple(request, *, kind, instance, build, create, update, title):
    def save(editor):
        if instance is None:
            obj = create(editor)
            return obj, f"{KINDS[kind].label.capitalize()} {obj} created."
        obj = update(editor)
        return obj, f"{KINDS[kind].label.capitalize()} {obj} saved."

    return edit_page(request, kind=kind, instance=instance, template="web/records/form.html",
                     build=build, save=save, context={"title": title})


@login_required
@refuse_if_retired("chemical", "chemical_id")
def chemical_form(request, chemical_id: int | None = None):
    chemical = _editable(request, "chemical", chemical_id) if chemical_id else None
    return _simple(
        request, kind="chemical", instance=chemical,
        build=lambda data: f.chemical_editor(data, chemical),
        create=lambda e: create_record(model=Chemical, data=e.main.changes(), actor=request.user),
        update=lambda e: services.update_chemical(
            chemical=chemical, expected_version=_version(e), changes=e.main.changes(),
            actor=request.user),
        title=f"Edit chemical {chemical}" if chemical else "New chemical")


@login_required
@refuse_if_retired("lot", "lot_id")
def lot_form(request, lot_id: int | None = None):
    lot = _editable(request, "lot", lot_id) if lot_id else None
    chemical = None
    if lot is None and (raw := request.GET.get("chemical", "")).isdigit():
        chemical = Chemical.objects.filter(pk=int(raw), is_retired=False).first()
    return _simple(
        request, kind="lot", instance=lot,
        build=lambda data: f.lot_editor(data, lot, chemical=chemical),
        create=lambda e: create_record(model=ChemicalLot, data=e.main.changes(),
                                       actor=request.user),
        update=lambda e: services.update_chemical_lot(
            lot=lot, expected_version=_version(e), changes=e.main.changes(), actor=request.user),
        title=f"Edit {lot}" if lot else "New chemical lot")


@login_required
@refuse_if_retired("stock", "stock_id")
def stock_form(request, stock_id: int | None = None):
    stock = _editable(request, "stock", stock_id) if stock_id else None

    def update(editor):
        kwargs = f.stock_kwargs(editor)
        return services.update_stock_solution(
            stock=stock, expected_version=_version(editor), changes=kwargs["data"],
            components=kwargs["components"], actor=request.user)

    return _simple(
        request, kind="stock", instance=stock,
        build=lambda data: f.stock_editor(data, stock),
        create=lambda e: services.create_stock_solution(actor=request.user,
                                                        **f.stock_kwargs(e)),
        update=update,
        title=f"Edit stock solution {stock.code}" if stock else "New stock solution")


# --- retire --------------------------------------------------------------------------------

@login_required
def retire(request, kind: str, pk: int):
    """Confirmation page with a reason; POST retires (never deletes) and goes to the list."""
    if kind not in KINDS:
        raise PermissionDenied("Unknown kind of record.")
    obj = _editable(request, kind, pk)
    error, reason = None, ""
    if request.method == "POST":
        reason = request.POST.get("reason", "")
        try:
            retire_record(obj, reason=reason, actor=request.user)
        except DomainError as exc:
            error = exc.message.removeprefix("reason: ")
        else:
            messages.success(request, f"{KINDS[kind].label.capitalize()} {obj} retired: it no "
                             "longer appears in lists; its history keeps it.")
            return redirect(KINDS[kind].list_url)
    return render(request, "web/records/retire.html", {
        "obj": obj, "kind": kind, "label": KINDS[kind].label, "error": error, "reason": reason,
        "back": detail_url(kind, obj)}, status=400 if error else 200)


@login_required
def restore(request, kind: str, pk: int):
    """A retired record's page with a reason; POST restores it (owner or curator) and goes to
    its page."""
    if kind not in KINDS:
        raise PermissionDenied("Unknown kind of record.")
    obj = get_object_or_404(KINDS[kind].model.objects.all(), pk=pk)
    if not obj.is_retired:
        return redirect(detail_url(kind, obj))
    if request.method != "POST":
        return retired_page(request, kind, obj, status=200)
    reason = request.POST.get("reason", "")
    try:
        restore_record(obj, reason=reason, actor=request.user)
    except DomainError as exc:
        return retired_page(request, kind, obj, status=400, reason=reason,
                            error=exc.message.removeprefix("reason: "))
    messages.success(request, f"{KINDS[kind].label.capitalize()} {obj} restored: it is in the "
                     "lists again and can be edited.")
    return redirect(detail_url(kind, obj))


# --- files of a run: a flask photo, the temperature log, a UV-vis during growth -----------

def _run_files_url(run) -> str:
    return reverse("web:run-detail", args=[run.pk]) + "#files"


@login_required
@require_POST
def run_file_upload(request, run_id: int):
    """Store the chosen files and link them to this run (one message per file)."""
    from characterization.services import attach_run_file

    run = get_object_or_404(selectors.run_list(), pk=run_id)
    uploads = request.FILES.getlist("files")
    if not uploads:
        messages.error(request, "files: choose at least one file to link to this run.")
    for upload in uploads:
        try:
            data_file, _, created = attach_run_file(
                content=upload.read(), filename=upload.name, run=run, actor=request.user,
                reason=request.POST.get("reason", "").strip())
        except LabdbError as exc:
            messages.error(request, f"{upload.name}: {exc.message}")
            continue
        messages.success(request, f"{data_file.original_name}: " + (
            f"stored for run {run.code}" if created
            else f"already stored — linked to run {run.code}"))
    return redirect(_run_files_url(run))


@login_required
@require_POST
def run_file_unlink(request, run_id: int, file_id: int):
    """Take a file off this run with a reason (kept in the link's history; reversible)."""
    from characterization.services import unlink_data_file_from_run

    return _act_on_run_file(request, run_id, file_id, lambda run, data_file: (
        unlink_data_file_from_run(data_file=data_file, run=run, actor=request.user,
                                  reason=request.POST.get("reason", ""))), "unlinked from run")


@login_required
@require_POST
def run_file_link(request, run_id: int, file_id: int):
    """Link a stored file to this run again (or for the first time)."""
    from characterization.services import link_data_file_to_run

    return _act_on_run_file(request, run_id, file_id, lambda run, data_file: (
        link_data_file_to_run(data_file=data_file, run=run, actor=request.user,
                              reason=request.POST.get("reason", ""))), "linked to run")


def _act_on_run_file(request, run_id: int, file_id: int, act, done: str):
    from characterization.models import DataFile

    run = get_object_or_404(selectors.run_list(), pk=run_id)
    data_file = get_object_or_404(DataFile.objects.filter(is_retired=False), pk=file_id)
    try:
        act(run, data_file)
    except LabdbError as exc:
        messages.error(request, f"{data_file.original_name}: {exc.message}")
    else:
        messages.success(request, f"{data_file.original_name}: {done} {run.code}")
    return redirect(_run_files_url(run))
