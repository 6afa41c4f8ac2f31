// --pushgateway against a small HTTP server on 127.0.0.1 that records what it was sent.
#include "reports/pushgateway.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

namespace firedrill {
namespace {

struct Recorded {
  std::string method, path, content_type, body;
};

class FakePushgateway {
 public:
  explicit FakePushgateway(int status = 200) {
    server_.Put(".*", [this, status](const httplib::Request& request, httplib::Response& response) {
      std::lock_guard lock(mutex_);
      requests_.push_back({request.method, request.path, request.get_header_value("Content-Type"), request.body});
      response.status = status;
      if (status >= 300) response.set_content("text format parsing error in line 1", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 2000 && !server_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakePushgateway() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<Recorded> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<Recorded> requests_;
};

const std::string metrics = "# TYPE firedrill_rto_seconds gauge\n# UNIT firedrill_rto_seconds seconds\n"
                            "firedrill_rto_seconds{scenario=\"quickstart\"} 2.764849\n# EOF\n";

TEST(Pushgateway, MetricsArePutToTheScenariosGroupAsText) {
  FakePushgateway gateway;
  push_metrics(gateway.url() + "/", "quickstart", metrics);
  auto requests = gateway.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "PUT");
  EXPECT_EQ(requests[0].path, "/metrics/job/firedrill/scenario/quickstart");
  EXPECT_EQ(requests[0].content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(requests[0].body, metrics);
}

TEST(Pushgateway, AGroupLabelIsPercentEncoded) {
  EXPECT_EQ(pushgateway_group_url("http://127.0.0.1:9091", "a b/c"), "http://127.0.0.1:9091/metrics/job/firedrill/scenario/a%20b%2Fc");
}

TEST(Pushgateway, ARefusalIsAnErrorNamingTheUrlAndTheAnswer) {
  FakePushgateway gateway(400);
  try {
    push_metrics(gateway.url(), "quickstart", metrics);
    FAIL() << "a 400 was accepted";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("/metrics/job/firedrill/scenario/quickstart answered HTTP 400: text format parsing error"),
              std::string::npos)
        << error.what();
  }
}

// Security review 2, L5: errors echoed the URL with its credentials, and any scheme libcurl
// knows was followed.
TEST(Pushgateway, ErrorsMaskTheUrlsPasswordAndOnlyHttpIsSpoken) {
  FakePushgateway gateway(400);
  const std::string with_credentials = "http://firedrill:s3cret-pw@" + gateway.url().substr(7);
  try {
    push_metrics(with_credentials, "quickstart", metrics);
    FAIL() << "a 400 was accepted";
  } catch (const std::runtime_error& error) {
    const std::string message = error.what();
    EXPECT_EQ(message.find("s3cret-pw"), std::string::npos) << message;
    EXPECT_NE(message.find("http://firedrill:****@127.0.0.1:"), std::string::npos) << message;
  }
  const auto file = std::filesystem::temp_directory_path() / ("pushgateway-file-" + std::to_string(::getpid()));
  std::ofstream(file) << "untouched";
  try {
    push_metrics("file://" + file.string(), "quickstart", metrics);
    FAIL() << "a file: URL was followed";
  } catch (const std::runtime_error& error) {
    const std::string message = error.what();
    EXPECT_TRUE(message.find("Protocol \"file\"") != std::string::npos || message.find("Unsupported protocol") != std::string::npos)
        << message;
  }
  std::string left;
  std::getline(std::ifstream(file), left);
  EXPECT_EQ(left, "untouched");
  std::filesystem::remove_all(file);
}

TEST(Pushgateway, AnUnreachableGatewayIsAnError) {
  int port = 0;
  {
    FakePushgateway closed;
    port = std::stoi(closed.url().substr(17));
  }
  EXPECT_THROW(push_metrics("http://127.0.0.1:" + std::to_string(port), "quickstart", metrics), std::runtime_error);
}

}  // namespace
}  // namespace firedrill
