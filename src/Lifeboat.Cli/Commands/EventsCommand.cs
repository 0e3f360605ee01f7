using System.CommandLine;
using System.Text;
using System.Text.Json;
using Lifeboat.Core.Config;
using Lifeboat.Core.Events;

namespace Lifeboat.Cli.Commands;

/// <summary><c>lifeboat events test-pattern --pattern FILE --event FILE</c>: the counterpart of
/// <c>aws events test-event-pattern</c>. Exit 0 when the event matches, 1 when it does not, 2 (with file, line,
/// column and JSON path) when the pattern or the event is not valid.</summary>
public static class EventsCommand
{
    public static Command Build()
    {
        var pattern = new Option<string>("--pattern") { Description = "Event pattern file (EventBridge JSON pattern)", Required = true };
        var evt = new Option<string>("--event") { Description = "Event file (JSON)", Required = true };
        var test = new Command("test-pattern", "Exit 0 if the event matches the pattern, 1 if not, 2 if the pattern is invalid (like aws events test-event-pattern)") { pattern, evt };
        test.SetAction((p, ct) => Cli.Run(() => Task.FromResult(TestPattern(p.GetValue(pattern)!, p.GetValue(evt)!, Console.Out))));
        var events = new Command("events", "Event rules: test EventBridge event patterns against events");
        events.Subcommands.Add(test);
        return events;
    }

    public static int TestPattern(string patternFile, string eventFile, TextWriter output)
    {
        var pattern = EventPattern.Load(patternFile);
        string text;
        try { text = File.ReadAllText(eventFile); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"{eventFile}: cannot read the event: {e.Message}");
        }
        JsonDocument doc;
        try { doc = JsonDocument.Parse(text); }
        catch (JsonException e)
        {
            var msg = e.Message;
            var cut = msg.IndexOf(" LineNumber:", StringComparison.Ordinal);
            if (cut > 0) msg = msg[..cut].TrimEnd('.', ' ');
            // BytePositionInLine counts bytes; the column is in characters.
            var line = (int)(e.LineNumber ?? 0);
            var lines = text.Split('\n');
            var col = line < lines.Length ? Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(lines[line]), 0, (int)Math.Min(e.BytePositionInLine ?? 0, Encoding.UTF8.GetByteCount(lines[line]))).Length + 1 : 1;
            throw new ConfigException(eventFile, line + 1, col, "(json)", $"malformed JSON event: {msg}");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new ConfigException(eventFile, 1, 1, "$", "an event is a JSON object");
            var match = pattern.Matches(doc.RootElement);
            output.WriteLine(match ? "match" : "no match");
            return match ? Cli.Ok : Cli.Failed;
        }
    }
}
