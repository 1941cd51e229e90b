"""Batch rendering: job files, resumable runs, a local process pool or a Ray cluster.

A job file (TOML) lists inputs, plugin steps (a parameter given as a list is
swept: the cross product of all lists becomes the items), optional print and
export settings and an output name template::

    inputs = ["photos/*.jpg"]
    output = "{stem}-{step1.rule}-{index:03d}.tif"

    [[steps]]
    plugin = "generative"
    rule = ["ridgelines", "flow_field"]
    seed = [1, 2, 3]

:func:`load_job` validates the whole file before anything runs and reports
every problem with file, line and key. :func:`run_job` renders the items; a
manifest next to the outputs (written atomically after every item) makes the
run resumable: finished items whose output still has its recorded hash are
skipped, missing or corrupt ones are rendered again.

Qt-free; Ray and torch are imported only when used.
"""

from studio.core.batch.errors import BatchError, JobFileError, JobProblem
from studio.core.batch.jobfile import BatchItem, Job, StepCall, iter_outputs, job_file_text, load_job, manifest_path
from studio.core.batch.render import export_item, render_item
from studio.core.batch.runner import BatchEvent, BatchSummary, run_job

__all__ = [
    "BatchError",
    "BatchEvent",
    "BatchItem",
    "BatchSummary",
    "Job",
    "JobFileError",
    "JobProblem",
    "StepCall",
    "export_item",
    "iter_outputs",
    "job_file_text",
    "load_job",
    "manifest_path",
    "render_item",
    "run_job",
]
