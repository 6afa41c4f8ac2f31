#pragma once
// report.html: the page a person reads after a drill.
#include <string>

#include "reports/writers.hpp"

namespace firedrill {

/// One self-contained HTML page (inline CSS and SVG, no script, nothing fetched): the verdict,
/// objectives vs measured per component, an SVG timeline of faults, probe states, acknowledged /
/// failed / lost writes and the recovery phases, the steps with their timings, checks, write
/// latency before and during faults, backups made, faults and the environment. Every string from
/// the report or the history is escaped.
std::string render_html(const RunRecord& run);

/// `text` with &, <, >, " and ' replaced by character references: safe in element content and in
/// quoted attribute values.
std::string html_escape(const std::string& text);

}  // namespace firedrill
