using System.CommandLine;
using ShadowProxy.Hosting;

RuntimeTuning.Apply();

var listen = new Option<string?>("--listen") { Description = "Where clients (or the iptables redirect) connect [0.0.0.0:8001]", HelpName = "HOST:PORT" };
var production = new Option<string?>("--production") { Description = "The live backend; the client gets its response [127.0.0.1:80]", HelpName = "HOST:PORT" };
var shadow = new Option<string?>("--shadow") { Description = "The backend that gets a copy of every request (required)", HelpName = "HOST:PORT" };
var exclude = new Option<string[]>("--exclude") { Description = "A path (before '?') that is mirrored but gets no request line; repeatable", HelpName = "PATH" };
var logFile = new Option<string?>("--log-file") { Description = "Also append request lines to this file (rolled daily)", HelpName = "PATH" };
var format = new Option<string?>("--format") { Description = "Request-line format: text or json [text]", HelpName = "text|json" };
var config = new Option<string?>("--config") { Description = "Settings file [appsettings.json beside the program]", HelpName = "PATH" };
var productionTimeout = new Option<string?>("--production-timeout") { Description = "Seconds production may stay silent before the client gets 504 [60]", HelpName = "SECONDS" };
var shadowTimeout = new Option<string?>("--shadow-timeout") { Description = "Seconds the whole shadow exchange may take [60]", HelpName = "SECONDS" };
var connectTimeout = new Option<string?>("--connect-timeout") { Description = "Seconds to open a backend connection [5]", HelpName = "SECONDS" };
var clientTimeout = new Option<string?>("--client-timeout") { Description = "Seconds within which a request head must arrive whole, that a client may stay silent inside a body, and that a tunnel may carry nothing either way [30]", HelpName = "SECONDS" };
var keepAliveTimeout = new Option<string?>("--keep-alive-timeout") { Description = "Seconds an idle keep-alive client connection stays open [75]", HelpName = "SECONDS" };
var drainTimeout = new Option<string?>("--drain-timeout") { Description = "Seconds requests in flight get to finish on shutdown [30]", HelpName = "SECONDS" };
var maxConnections = new Option<string?>("--max-connections") { Description = "Client connections served at once; more get 503 [10000]", HelpName = "N" };
var maxHeadSize = new Option<string?>("--max-head-size") { Description = "Largest request head in bytes; larger gets 431 [32768]", HelpName = "BYTES" };
var shadowBuffer = new Option<string?>("--shadow-buffer") { Description = "Request bytes held for a slow shadow before its copy is abandoned [1048576]", HelpName = "BYTES" };
var shadowBufferTotal = new Option<string?>("--shadow-buffer-total") { Description = "Request bytes held for all slow shadows together [67108864]", HelpName = "BYTES" };
var compareIgnoreField = new Option<string[]>("--compare-ignore-field") { Description = "A JSON member name (at any depth) that does not count when comparing bodies; repeatable", HelpName = "NAME" };
var compareJsonMaxBytes = new Option<string?>("--compare-json-max-bytes") { Description = "Largest body compared as JSON (ignoring --compare-ignore-field); larger ones by hash [262144]", HelpName = "BYTES" };
var shadowPercent = new Option<string?>("--shadow-percent") { Description = "Share of requests mirrored, 0-100 (random, or by --shadow-sticky) [100]", HelpName = "P" };
var shadowSticky = new Option<string?>("--shadow-sticky") { Description = "Sample by a key so one user's session is mirrored whole: header:NAME, cookie:NAME or query:NAME", HelpName = "KEY" };
var shadowMethods = new Option<string?>("--shadow-methods") { Description = "Methods mirrored, comma-separated; others go to production only [all]", HelpName = "GET,HEAD,..." };
var shadowMaxInflight = new Option<string?>("--shadow-max-inflight") { Description = "Shadow copies running at once; past it a copy is skipped [--max-connections]", HelpName = "N" };
var shadowMaxBody = new Option<string?>("--shadow-max-body") { Description = "Largest request body mirrored; larger is skipped [unbounded]", HelpName = "BYTES" };
var shadowHeader = new Option<string?>("--shadow-header") { Description = "A header added to the shadow's copy only, e.g. \"X-Shadow: 1\"", HelpName = "\"NAME: VALUE\"" };
var shadowHost = new Option<string?>("--shadow-host") { Description = "Replaces the Host header in the shadow's copy only", HelpName = "NAME" };
var statsInterval = new Option<string?>("--stats-interval") { Description = "Print a one-line summary to stderr this often (requests/s, mismatches, shadow errors, skips, p50 times)", HelpName = "SECONDS" };
var metricsListen = new Option<string?>("--metrics-listen") { Description = "Serve the metrics in Prometheus text format at http://HOST:PORT/metrics", HelpName = "HOST:PORT" };
var clientKeepAlive = new Option<string?>("--client-keep-alive") { Description = "Keep client connections open across requests: on or off [on]", HelpName = "on|off" };
var backendKeepAlive = new Option<string?>("--backend-keep-alive") { Description = "Reuse backend connections (requests ask for keep-alive): on or off [off]", HelpName = "on|off" };
var backendIdleTimeout = new Option<string?>("--backend-idle-timeout") { Description = "Seconds an idle reused backend connection is kept [4]", HelpName = "SECONDS" };

var root = new RootCommand(
    "ShadowProxy: sends every HTTP/1.x request to production and a copy to a shadow; the client gets production's answer, stdout gets one line per request.\n"
    + "Every option but --config can also be set in the \"ShadowProxy\" section of the settings file (--shadow-timeout as \"ShadowTimeout\") or in the environment (SHADOWPROXY_SHADOW=10.0.0.7:80); the command line wins, then the environment.")
{
    listen, production, shadow, exclude, logFile, format, config, productionTimeout, shadowTimeout,
    connectTimeout, clientTimeout, keepAliveTimeout, drainTimeout, maxConnections, maxHeadSize, shadowBuffer, shadowBufferTotal, clientKeepAlive,
    backendKeepAlive, backendIdleTimeout,
    compareIgnoreField, compareJsonMaxBytes, shadowPercent, shadowSticky, shadowMethods, shadowMaxInflight, shadowMaxBody, shadowHeader, shadowHost,
    statsInterval, metricsListen,
};
root.SetAction((parseResult, cancellationToken) => ProxyCommand.RunAsync(
    new CommandLineSettings(
        Listen: parseResult.GetValue(listen),
        Production: parseResult.GetValue(production),
        Shadow: parseResult.GetValue(shadow),
        Exclude: parseResult.GetValue(exclude),
        LogFile: parseResult.GetValue(logFile),
        Format: parseResult.GetValue(format),
        Config: parseResult.GetValue(config),
        ProductionTimeout: parseResult.GetValue(productionTimeout),
        ShadowTimeout: parseResult.GetValue(shadowTimeout),
        ConnectTimeout: parseResult.GetValue(connectTimeout),
        ClientTimeout: parseResult.GetValue(clientTimeout),
        KeepAliveTimeout: parseResult.GetValue(keepAliveTimeout),
        DrainTimeout: parseResult.GetValue(drainTimeout),
        MaxConnections: parseResult.GetValue(maxConnections),
        MaxHeadSize: parseResult.GetValue(maxHeadSize),
        ShadowBuffer: parseResult.GetValue(shadowBuffer),
        ShadowBufferTotal: parseResult.GetValue(shadowBufferTotal),
        ClientKeepAlive: parseResult.GetValue(clientKeepAlive),
        BackendKeepAlive: parseResult.GetValue(backendKeepAlive),
        BackendIdleTimeout: parseResult.GetValue(backendIdleTimeout),

        CompareIgnoreField: parseResult.GetValue(compareIgnoreField),
        CompareJsonMaxBytes: parseResult.GetValue(compareJsonMaxBytes),
        ShadowPercent: parseResult.GetValue(shadowPercent),
        ShadowSticky: parseResult.GetValue(shadowSticky),
        ShadowMethods: parseResult.GetValue(shadowMethods),
        ShadowMaxInflight: parseResult.GetValue(shadowMaxInflight),
        ShadowMaxBody: parseResult.GetValue(shadowMaxBody),
        ShadowHeader: parseResult.GetValue(shadowHeader),
        ShadowHost: parseResult.GetValue(shadowHost),
        StatsInterval: parseResult.GetValue(statsInterval),
        MetricsListen: parseResult.GetValue(metricsListen)),
    cancellationToken));

var demo = new Command("demo", "Start two built-in backends and the proxy in front of them, send sample requests, print their lines (stdout) and a summary (stderr).");
demo.SetAction((_, cancellationToken) => ShadowProxy.Demo.DemoCommand.RunAsync(Console.Error, cancellationToken));
root.Subcommands.Add(demo);

var reportFiles = new Argument<string[]>("FILE") { Description = "Request-line logs, text or json (decided per line); none or '-' reads stdin", Arity = ArgumentArity.ZeroOrMore };
var reportHtml = new Option<string?>("--html") { Description = "Also write the report as one self-contained HTML page with charts", HelpName = "FILE" };
var reportTop = new Option<string?>("--top") { Description = "Rows in each path table [10]", HelpName = "N" };
var reportMinRequests = new Option<string?>("--min-requests") { Description = "Requests a path needs to be ranked among the slower paths [5]", HelpName = "N" };
var report = new Command("report", "Summarise request-line logs: status matrix, shadow failures, body mismatches, latency percentiles, slower paths.")
{
    reportFiles, reportHtml, reportTop, reportMinRequests,
};
report.SetAction(parseResult => ShadowProxy.Reporting.ReportCommand.Run(
    parseResult.GetValue(reportFiles) ?? [],
    parseResult.GetValue(reportHtml),
    parseResult.GetValue(reportTop),
    parseResult.GetValue(reportMinRequests),
    Console.Out,
    Console.Error));
root.Subcommands.Add(report);

ParseResult parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    // One line and exit 2, before anything listens (the built-in error action prints help and returns 1). The message
    // may echo a word as typed: its control characters (a terminal escape, a bell) are blanked, as line breaks are.
    Console.Error.WriteLine($"ShadowProxy: {OneLine.Text(parsed.Errors[0].Message.ReplaceLineEndings(" "))}");
    return ExitCodes.Usage;
}

// null: System.CommandLine leaves SIGTERM and Ctrl+C to the Generic Host, which drains and exits 0. Help and the
// version are collected and written here: written straight to a closed stdout (>&-) they ended in a stack trace.
var helpOrVersion = new StringWriter();
int exitCode = await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, Output = helpOrVersion });
return HelpOutput.Write(helpOrVersion.ToString(), Console.Out, Console.Error) ? exitCode : ExitCodes.Failure;
