"""Reports: result records to the SUPERB leaderboard (`bench report`).

records (read result.json) -> leaderboard (rows, cells, scores, footnotes) -> tables (md/csv/tex), html, plots, explain.
Scores are in `scores`, published rows and SUPERB_s reference points in `data/` (read by `references`).
"""
