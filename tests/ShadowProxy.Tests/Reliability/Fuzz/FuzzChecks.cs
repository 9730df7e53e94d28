using System.IO.Hashing;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;

namespace ShadowProxy.Tests.Reliability.Fuzz;

/// <summary>What each side must have seen of a case: the backends' requests, the request lines, the client's bytes.</summary>
internal static class FuzzChecks
{
    public static void CheckBackend(FuzzCase fuzz, string side, IReadOnlyList<FuzzRequest> forwarded, string[] received, bool inOrder, List<string> problems)
    {
        bool shadow = !inOrder;
        // The shadow's copies run on connections of their own: they may arrive in any order, each exactly once.
        string[] arrived = inOrder ? received : [.. received.OrderBy(request => FuzzBackends.IdOf(request)?.Id, StringComparer.Ordinal)];
        FuzzRequest[] wanted = inOrder ? [.. forwarded] : [.. forwarded.OrderBy(request => request.Id, StringComparer.Ordinal)];
        if (arrived.Length != wanted.Length)
        {
            problems.Add($"{side} got {arrived.Length} requests instead of {wanted.Length}: "
                + string.Join(" | ", arrived.Select(request => FuzzCase.Escape(FuzzCase.Latin1Bytes(request), 200))));
            return;
        }

        for (int i = 0; i < wanted.Length; i++)
        {
            FuzzRequest request = wanted[i];
            string expected = fuzz.ExpectedBackendRequest(request, shadow);
            if (request.Invalid == Invalidity.Body)
            {
                // The head and at most the valid part of the body, never the byte that breaks it, nor a complete request.
                string head = expected[..(expected.Length - request.Body.Length)];
                string allowed = head + FuzzCase.Latin1(request.Body[..request.ForwardableBodyBytes]);
                if (!arrived[i].StartsWith(head, StringComparison.Ordinal) || !allowed.StartsWith(arrived[i], StringComparison.Ordinal))
                {
                    problems.Add($"{side} got more of the broken body than its valid part: " + Mismatch(side, FuzzCase.Latin1Bytes(allowed), FuzzCase.Latin1Bytes(arrived[i])));
                }
            }
            else if (arrived[i] != expected)
            {
                problems.Add($"{side}'s request {i}: " + Mismatch(side, FuzzCase.Latin1Bytes(expected), FuzzCase.Latin1Bytes(arrived[i])));
            }
        }
    }

    public static void CheckLines(IReadOnlyList<FuzzRequest> forwarded, RequestRecord[] lines, List<string> problems)
    {
        if (lines.Length != forwarded.Count)
        {
            problems.Add($"{lines.Length} request lines for {forwarded.Count} requests: " + string.Join(" | ", lines.Select(line => TextRequestLine.Format(line))));
            return;
        }

        foreach (FuzzRequest request in forwarded)
        {
            RequestRecord[] mine = [.. lines.Where(line => line.Url == request.Target)];
            if (mine.Length != 1)
            {
                problems.Add($"{mine.Length} request lines for {request.Target}");
                continue;
            }

            RequestRecord line = mine[0];
            string text = TextRequestLine.Format(line);
            string[] fields = text.Split(' ');
            if (request.Invalid == Invalidity.Body)
            {
                if (line.Production.Error != BackendError.Aborted || line.Shadow.Error != BackendError.Aborted)
                {
                    problems.Add($"the line of a broken body says production {line.Production.Error}, shadow {line.Shadow.Error}, not aborted: {text}");
                }

                continue;
            }

            if (line.Method != request.Method || fields.Length != 6 || fields[0] != request.Target)
            {
                problems.Add($"request line '{text}' ({line.Method}) does not name {request.Method} {request.Target}");
            }

            CheckSide("production", line.Production, request.Production, text, problems);
            if (request.Tunnel)
            {
                if (line.ShadowSkipped != ShadowProxy.Mirroring.ShadowSkip.Tunnel || line.Shadow.StatusCode != 0)
                {
                    problems.Add($"the line of an Upgrade request says the shadow was {line.ShadowSkipped}, status {line.Shadow.StatusCode}: {text}");
                }
            }
            else
            {
                CheckSide("shadow", line.Shadow, request.Shadow, text, problems);
            }
        }
    }

    private static void CheckSide(string side, BackendResult result, FuzzResponse response, string line, List<string> problems)
    {
        if (response.Invalid != Invalidity.None)
        {
            if (result.Error != BackendError.InvalidResponse || result.StatusCode != response.Status)
            {
                problems.Add($"{side} in the request line: status {result.StatusCode}, error {result.Error} for a broken answer ({response.Shape}); expected status {response.Status}, invalid_response: {line}");
            }

            return;
        }

        ulong hash = XxHash3.HashToUInt64(response.Payload);
        if (result.Error != BackendError.None || result.StatusCode != response.Status || !result.Facts.BodyComplete
            || result.Facts.BodyBytes != response.Payload.Length || result.Facts.BodyHash != hash)
        {
            problems.Add($"{side} in the request line: status {result.StatusCode}, error {result.Error}, payload {result.Facts.BodyBytes} bytes "
                + $"(complete {result.Facts.BodyComplete}, hash {(result.Facts.BodyHash == hash ? "right" : "wrong")}); expected status {response.Status}, "
                + $"{response.Payload.Length} bytes: {line}");
        }
    }

    /// <summary>Where two byte strings first differ, with both around that point.</summary>
    public static string Mismatch(string who, byte[] expected, byte[] actual)
    {
        int at = expected.AsSpan().CommonPrefixLength(actual);
        int from = Math.Max(0, at - 120);
        return $"{who} got {actual.Length} bytes instead of {expected.Length}, first difference at byte {at}:\n"
            + $"      expected ...{FuzzCase.Escape(expected[from..Math.Min(expected.Length, at + 160)])}\n"
            + $"      actual   ...{FuzzCase.Escape(actual[from..Math.Min(actual.Length, at + 160)])}";
    }
}
