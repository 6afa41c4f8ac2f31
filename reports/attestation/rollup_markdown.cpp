// The Markdown summary of a roll-up Statement, for people and auditors, and where it is written
// beside the roll-up.
#include "reports/attestation/rollup.hpp"

#include <string>
#include <vector>

#include <fmt/format.h>

#include "reports/attestation/rollup_internal.hpp"

namespace firedrill::attestation {
namespace {

namespace fs = std::filesystem;

std::string md_cell(const nlohmann::json& value) {
  if (value.is_null()) return "–";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_float()) return fmt::format("{:.3f}", value.get<double>());
  return value.dump();
}

std::string md_seconds(const nlohmann::json& figure, const char* statistic) {
  auto value = at_path(figure, {statistic});
  return value.is_number() ? fmt::format("{:.3f} s", value.get<double>()) : "–";
}

std::string md_target(const nlohmann::json& figure) {
  auto target = md_seconds(figure, "target");
  return at_path(figure, {"met"}) == false ? target + " **missed**" : target;
}

}  // namespace

std::string rollup_markdown(const nlohmann::json& statement) {
  const auto& p = statement.at("predicate");
  std::string md;
  md += fmt::format("# Drill roll-up {}: {}\n\n", p["period"]["label"].get<std::string>(), p["result"].get<std::string>());
  md += fmt::format("Period {} to {} (end excluded). {} runs included ({} passed, {} failed), {} excluded.\n\n",
                    p["period"]["from"].get<std::string>(), p["period"]["to"].get<std::string>(),
                    md_cell(p["totals"]["runs"]), md_cell(p["totals"]["passed"]), md_cell(p["totals"]["failed"]),
                    md_cell(p["totals"]["excluded"]));
  auto signer = at_path(p, {"signer", "keyid"});
  md += signer.is_string() && !signer.get<std::string>().empty()
            ? fmt::format("Signed by key `{}` (predicate `{}`).\n\n", signer.get<std::string>(), rollup_predicate_type)
            : std::string("**Not signed.**\n\n");

  md += "## Scenarios\n\n| scenario | runs | passed | failed | warned | RTO min / median / p95 / max | RTO target | RPO max | RPO target | last run |\n";
  md += "|---|---:|---:|---:|---:|---|---:|---:|---:|---|\n";
  for (const auto& [name, s] : p["scenarios"].items())
    md += fmt::format("| {} | {} | {} | {} | {} | {} / {} / {} / {} | {} | {} | {} | {} ({}) |\n", name, md_cell(s["runs"]),
                      md_cell(s["passed"]), md_cell(s["failed"]), md_cell(s["warned"]), md_seconds(s["rto_seconds"], "min"),
                      md_seconds(s["rto_seconds"], "median"), md_seconds(s["rto_seconds"], "p95"),
                      md_seconds(s["rto_seconds"], "max"), md_target(s["rto_seconds"]),
                      md_seconds(s["rpo_seconds"], "max"), md_target(s["rpo_seconds"]),
                      md_cell(s["last_run"]["run_id"]), md_cell(s["last_run"]["result"]));
  if (p["scenarios"].empty()) md += "| (no runs in the period) | | | | | | | | | |\n";

  if (p["policy"].is_object()) {
    md += fmt::format("\n## Policy: {}\n\n`{}`\n\n| rule | requirement | result | why |\n|---|---|---|---|\n",
                      p["policy"]["result"].get<std::string>(), p["policy"]["file"].get<std::string>());
    for (const auto& rule : p["policy"]["rules"]) {
      std::vector<std::string> why;
      for (const auto& window : rule["windows"])
        for (const auto& reason : window["reasons"])
          why.push_back(fmt::format("{}: {}", window["from"].get<std::string>().substr(0, 10), reason.get<std::string>()));
      md += fmt::format("| {} | {} `{}` | {} | {} |\n", md_cell(rule["name"]), md_cell(rule["requirement"]),
                        md_cell(rule["scenario"]), md_cell(rule["result"]), why.empty() ? "–" : fmt::format("{}", fmt::join(why, "; ")));
    }
  }
  if (p["controls"].is_object()) {
    md += fmt::format("\n## Controls\n\n`{}` (an editable mapping)\n\n| framework | control | status | evidence |\n|---|---|---|---|\n",
                      p["controls"]["file"].get<std::string>());
    for (const auto& control : p["controls"]["controls"]) {
      std::vector<std::string> evidence;
      for (const auto& entry : control["evidence"])
        evidence.push_back(fmt::format("{}: {}", entry["scenario"].get<std::string>(),
                                       fmt::join(entry["runs"].get<std::vector<std::string>>(), ", ")));
      md += fmt::format("| {} | {} {} | {} | {} |\n", md_cell(control["framework"]), md_cell(control["id"]),
                        md_cell(control["title"]), md_cell(control["status"]),
                        evidence.empty() ? "–" : fmt::format("{}", fmt::join(evidence, "; ")));
    }
  }
  md += "\n## Excluded runs\n\n";
  if (p["excluded"].empty()) md += "None: every run of the period verified.\n";
  for (const auto& run : p["excluded"])
    md += fmt::format("- `{}` ({}{}): {}\n", md_cell(run["attestation"]), md_cell(run["run_id"]),
                      run.value("period", "") == "unknown" ? ", period unknown" : "", md_cell(run["reason"]));
  md += "\n## Evidence chains\n\n";
  for (const auto& chain : p["chains"]) {
    auto head_seq = at_path(chain, {"head", "seq"});
    auto head = head_seq.is_number() && head_seq.get<std::size_t>() > 0
                    ? fmt::format("; signed head: entry {} `{}`", md_cell(head_seq), md_cell(at_path(chain, {"head", "hash"})))
                    : std::string();
    md += fmt::format("- `{}`: {}{}\n", md_cell(chain["directory"]),
                      chain["valid"].get<bool>() ? fmt::format("intact, {} entries", md_cell(chain["entries"]))
                                                 : fmt::format("BROKEN: {}", md_cell(chain["reason"])),
                      head);
  }
  md += "\nA chain is checked against this head by `firedrill verify` with `--artifacts`: runs removed from the end "
        "of a chain together with their entries are caught only by a head kept outside the runs directory, such as "
        "this roll-up.\n";
  md += "\n## Included runs\n\n| run | scenario | started | result | attestation (sha256 in the roll-up) |\n|---|---|---|---|---|\n";
  for (const auto& run : p["included"])
    md += fmt::format("| {} | {} | {} | {} | `{}` |\n", md_cell(run["run_id"]), md_cell(run["scenario"]),
                      md_cell(run["started_at"]), md_cell(run["result"]), md_cell(run["attestation"]));
  md += "\nVerify offline: `firedrill verify ROLLUP --key PUB --artifacts ROOT --deep`, where ROOT is the directory the "
        "attestation paths above are relative to; or check the DSSE signature over the PAE bytes with any Ed25519 / "
        "ECDSA P-256 verifier and each attestation's SHA-256 with `sha256sum`.\n";
  return md;
}

fs::path markdown_path(const fs::path& rollup_file) {
  // A roll-up named *.md keeps its name; the summary must not overwrite it.
  if (rollup_file.extension() == ".md") return fs::path(rollup_file.string() + ".md");
  auto path = rollup_file;
  return path.replace_extension(".md");
}

}  // namespace firedrill::attestation
