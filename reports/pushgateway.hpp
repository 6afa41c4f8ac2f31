#pragma once
// Pushing a drill's metrics to a Prometheus Pushgateway, for CI jobs that nothing scrapes.
#include <string>

namespace firedrill {

/// The Pushgateway URL of one drill's group: GATEWAY/metrics/job/firedrill/scenario/SCENARIO,
/// the scenario percent-encoded.
std::string pushgateway_group_url(const std::string& gateway, const std::string& scenario);

/// PUTs `metrics` (metrics.prom) to the drill's group, replacing what an earlier run of the same
/// scenario pushed. Sent as `text/plain; version=0.0.4`, the text format Pushgateway parses;
/// OpenMetrics' `# UNIT` and `# EOF` lines are comments to that parser. Throws
/// std::runtime_error naming the URL when the gateway cannot be reached or answers other than 2xx.
void push_metrics(const std::string& gateway, const std::string& scenario, const std::string& metrics);

}  // namespace firedrill
