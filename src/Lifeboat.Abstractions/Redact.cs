using System.Text;
using System.Text.RegularExpressions;

namespace Lifeboat.Abstractions;

/// <summary>
/// Shows URLs without the secrets they may carry, for every place a URL is printed: output, logs and the API.
/// Removed: user-info (<c>http://user:pass@host</c>), the values of query parameters whose names say they hold a
/// secret (token, key, secret, password, signature, sig, X-Amz-Signature/Credential/Security-Token, code), and the
/// secret path segments of well-known incoming-webhook URLs (Slack <c>/services/T/B/SECRET</c>, Discord
/// <c>/api/webhooks/ID/SECRET</c>, Microsoft Teams/Office connectors, PagerDuty integration keys). A URL the parser
/// does not accept is shown as a whole only when it has no '@', else as <c>(redacted URL)</c>.
/// </summary>
public static partial class Redact
{
    public const string Mask = "***";

    [GeneratedRegex(@"(?i)^(token|access[_-]?token|auth|key|api[_-]?key|apikey|secret|client[_-]?secret|password|passwd|pwd|sig|signature|code|x-amz-signature|x-amz-credential|x-amz-security-token|sv|se)$")]
    private static partial Regex SecretParam();

    // A URL inside free text (a message, a log line): scheme, then everything up to whitespace or a quote.
    [GeneratedRegex(@"(?i)\b[a-z][a-z0-9+.-]*://[^\s""'<>]+")]
    private static partial Regex UrlInText();

    /// <summary>The URL with its secrets replaced by <see cref="Mask"/>; null stays null.</summary>
    public static string? Url(string? url)
    {
        if (string.IsNullOrEmpty(url)) return url;
        if (!url.Contains("://", StringComparison.Ordinal) || !Uri.TryCreate(url, UriKind.Absolute, out var u) || u.IsFile)
            return url.Contains('@') ? "(redacted URL)" : url;
        var sb = new StringBuilder();
        sb.Append(u.Scheme).Append("://");
        if (u.UserInfo.Length > 0) sb.Append(Mask).Append('@');
        sb.Append(u.IsDefaultPort ? u.Host : $"{u.Host}:{u.Port}");
        // A URL written without a path is shown without one (the parser adds "/").
        var written = url[(url.IndexOf("://", StringComparison.Ordinal) + 3)..];
        if (u.AbsolutePath != "/" || written.IndexOfAny(['/', '?', '#']) is var cut && cut >= 0 && written[cut] == '/')
            sb.Append(Path(u.Host, u.AbsolutePath));
        if (u.Query.Length > 1)
        {
            sb.Append('?');
            var parts = u.Query[1..].Split('&');
            for (var i = 0; i < parts.Length; i++)
            {
                if (i > 0) sb.Append('&');
                var eq = parts[i].IndexOf('=');
                var name = eq < 0 ? parts[i] : parts[i][..eq];
                sb.Append(eq >= 0 && SecretParam().IsMatch(Uri.UnescapeDataString(name)) ? name + "=" + Mask : parts[i]);
            }
        }
        // A fragment can carry an OAuth token (#access_token=...): never shown.
        if (u.Fragment.Length > 1) sb.Append('#').Append(Mask);
        return sb.ToString();
    }

    /// <summary>Every URL inside <paramref name="text"/> redacted (for messages that quote a URL).</summary>
    public static string Text(string? text) =>
        string.IsNullOrEmpty(text) ? text ?? "" : UrlInText().Replace(text, m =>
        {
            // Sentence punctuation after a URL is not part of it.
            var v = m.Value.TrimEnd('.', ',', ';', ':', ')', ']', '!', '?');
            // A URL with nothing to hide stays as written (Url would normalise it, e.g. add a '/' path).
            var shown = Url(v);
            return (shown!.Contains(Mask, StringComparison.Ordinal) || shown.StartsWith('(') ? shown : v) + m.Value[v.Length..];
        });

    private static string Path(string host, string path)
    {
        var segs = path.Split('/');
        host = host.ToLowerInvariant();
        // Slack: /services/T000/B000/SECRET (team and bot ids are not secret) (and workflow triggers /triggers/T/ID/SECRET).
        if (host.EndsWith("slack.com", StringComparison.Ordinal) && segs.Length > 2 && segs[1] is "services" or "triggers" or "workflows")
            return MaskFrom(segs, 4);
        // Discord: /api/webhooks/ID/SECRET
        if ((host.EndsWith("discord.com", StringComparison.Ordinal) || host.EndsWith("discordapp.com", StringComparison.Ordinal)) &&
            segs.Length > 3 && segs[1] == "api" && segs[2] == "webhooks")
            return MaskFrom(segs, 4);
        // Microsoft Teams / Office 365 connectors and Power Automate: the whole path after the host is the credential.
        if (host.EndsWith("webhook.office.com", StringComparison.Ordinal) || host.EndsWith("logic.azure.com", StringComparison.Ordinal) ||
            host.EndsWith("outlook.office.com", StringComparison.Ordinal))
            return MaskFrom(segs, 2);
        // PagerDuty integration URLs: /integration/KEY/enqueue
        if (host.EndsWith("pagerduty.com", StringComparison.Ordinal) && segs.Length > 2 && segs[1] == "integration")
            return MaskFrom(segs, 2, keepLast: segs.Length > 3);
        return path;
    }

    private static string MaskFrom(string[] segs, int from, bool keepLast = false)
    {
        var copy = (string[])segs.Clone();
        var end = keepLast ? copy.Length - 1 : copy.Length;
        for (var i = from; i < end; i++)
            if (copy[i].Length > 0) copy[i] = Mask;
        return string.Join('/', copy);
    }
}
