"""How good the generated pieces are.

- `scores`        a split generated and scored against its ground truth (the paper's Table 2 and beyond)
- `pair_metrics`  one piece against its reference (PESQ, STOI, mel L1); `piece_scores` their per-picture record
- `judge`         the category judge trained on real pieces
- `report`        report.html and the sample records
- `cost`          params and MACs of every model beside the paper's Table 1 (`python -m conchshell.evaluation.cost`)
- `music/`        transcription and music metrics (key, tempo, notes)
- `listening/`    the listening test's ratings database and its MOS
"""
