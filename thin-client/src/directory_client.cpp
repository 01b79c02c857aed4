#include "gno/client/directory_client.hpp"

#include "gno/client/cli_options.hpp" // split_host_port

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace gno::client {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;

std::string encode_directory_request(const directory_request& r) {
    json j{{"code", r.code}, {"program", r.program}, {"bank", r.bank}};
    if (r.avoid != 0)
        j["avoid"] = r.avoid;
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<directory_endpoint> parse_endpoint(std::string_view text) noexcept {
    try {
        auto hp = split_host_port(text);
        if (!hp)
            return std::nullopt;
        return directory_endpoint{std::move(hp->first), hp->second};
    } catch (...) { // allocation failure only
        return std::nullopt;
    }
}

std::optional<placement> parse_placement(std::string_view body) noexcept {
    try {
        const auto j = json::parse(body, nullptr, false);
        if (!j.is_object())
            return std::nullopt;
        auto port = [&j](const char* key) -> std::optional<std::uint16_t> {
            if (!j.contains(key) || !j[key].is_number_integer())
                return std::nullopt;
            const auto v = j[key].get<long long>();
            if (v < 1 || v > 65535)
                return std::nullopt;
            return static_cast<std::uint16_t>(v);
        };
        auto text = [&j](const char* key, std::size_t max) -> std::optional<std::string> {
            if (!j.contains(key) || !j[key].is_string() ||
                j[key].get_ref<const std::string&>().size() > max)
                return std::nullopt;
            return j[key].get<std::string>();
        };
        placement p;
        const auto udp = port("udp_port");
        const auto control = port("control_port");
        const auto host = text("host", 255);
        const auto token = text("token", 128);
        if (!udp || !control || !host || host->empty() || !token || token->empty() ||
            !j.contains("node") || !j["node"].is_number_unsigned() ||
            j["node"].get<unsigned long long>() > 65535)
            return std::nullopt;
        p.node = j["node"].get<std::uint32_t>();
        p.host = *host;
        p.udp_port = *udp;
        p.control_port = *control;
        p.token = *token;
        p.section = text("section", 32).value_or("");
        if (j.contains("directories") && j["directories"].is_array())
            for (const auto& d : j["directories"])
                if (d.is_string() && p.directories.size() < 64)
                    if (auto e = parse_endpoint(d.get_ref<const std::string&>()))
                        p.directories.push_back(std::move(*e));
        return p;
    } catch (...) {
        return std::nullopt;
    }
}

namespace {

struct http_result {
    int status = 0; // 0: no answer
    std::string body;
    std::string error;
};

http_result post(const directory_endpoint& d, const std::string& body,
                 std::chrono::milliseconds timeout) {
    http_result out;
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    beast::flat_buffer buffer;
    http::request<http::string_body> req{http::verb::post, "/api/directory", 11};
    req.set(http::field::host, d.host + ':' + std::to_string(d.port));
    req.set(http::field::user_agent, "gno-client");
    req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    http::response_parser<http::string_body> res;
    res.body_limit(64 * 1024);
    auto fail = [&out](const char* what, beast::error_code ec) {
        out.error = std::string(what) + ": " + ec.message();
    };
    stream.expires_after(timeout);
    resolver.async_resolve(
        d.host, std::to_string(d.port), [&](beast::error_code ec, tcp::resolver::results_type r) {
            if (ec)
                return fail("resolve", ec);
            stream.async_connect(r, [&](beast::error_code ec2, const tcp::endpoint&) {
                if (ec2)
                    return fail("connect", ec2);
                http::async_write(stream, req, [&](beast::error_code ec3, std::size_t) {
                    if (ec3)
                        return fail("write", ec3);
                    http::async_read(stream, buffer, res, [&](beast::error_code ec4, std::size_t) {
                        if (ec4)
                            return fail("read", ec4);
                        out.status = static_cast<int>(res.get().result_int());
                        out.body = res.get().body();
                    });
                });
            });
        });
    ioc.run_for(timeout + std::chrono::milliseconds(100));
    return out;
}

} // namespace

std::optional<placement> ask_directories(const std::vector<directory_endpoint>& directories,
                                         const directory_request& r, std::string& error,
                                         bool& refused, std::chrono::milliseconds timeout) {
    refused = false;
    const std::string body = encode_directory_request(r);
    for (const auto& d : directories) {
        const auto a = post(d, body, timeout);
        const std::string where = "the directory at " + d.host + ':' + std::to_string(d.port);
        if (a.status == 0) {
            error = where + " did not answer (" + a.error + ")";
            continue;
        }
        if (a.status == 200) {
            if (auto p = parse_placement(a.body))
                return p;
            error = where + " gave an answer we cannot read";
            continue;
        }
        const auto j = json::parse(a.body, nullptr, false);
        const std::string why = j.is_object() && j.contains("message") && j["message"].is_string()
                                    ? j["message"].get<std::string>()
                                    : "HTTP " + std::to_string(a.status);
        error = where + ": " + why;
        if (a.status == 403 || a.status == 400) {
            refused = true; // the code itself: every directory would say the same
            return std::nullopt;
        }
    }
    return std::nullopt;
}

} // namespace gno::client
