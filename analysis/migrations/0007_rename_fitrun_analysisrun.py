"""FitRun becomes AnalysisRun (one run model for every kind of analysis); rows and ids kept.

Hand-written: the autodetector cannot tell a rename from a drop + create. The historical
model of simple_history is renamed with it so the history of each run is kept.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("analysis", "0006_fitrun_parameter_order"),
    ]

    operations = [
        migrations.RenameModel("FitRun", "AnalysisRun"),
        migrations.RenameModel("HistoricalFitRun", "HistoricalAnalysisRun"),
    ]
