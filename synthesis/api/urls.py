from rest_framework.routers import DefaultRouter

from synthesis.api import views

router = DefaultRouter()
router.register("samples", views.SampleViewSet, basename="sample")
router.register("sample-layers", views.SampleLayerViewSet, basename="samplelayer")
router.register("sample-parents", views.SampleParentViewSet, basename="sampleparent")
router.register("recipes", views.RecipeViewSet, basename="recipe")
router.register("recipe-steps", views.RecipeStepViewSet, basename="recipestep")
router.register("runs", views.SynthesisRunViewSet, basename="synthesisrun")
router.register("run-steps", views.RunStepViewSet, basename="runstep")
router.register("chemicals", views.ChemicalViewSet, basename="chemical")
router.register("chemical-lots", views.ChemicalLotViewSet, basename="chemicallot")
router.register("stock-solutions", views.StockSolutionViewSet, basename="stocksolution")
router.register("papers", views.PaperViewSet, basename="paper")
router.register("flags", views.DataFlagViewSet, basename="dataflag")

urlpatterns = router.urls
