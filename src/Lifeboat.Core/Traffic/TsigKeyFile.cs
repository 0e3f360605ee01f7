using Lifeboat.Core.Config;

namespace Lifeboat.Core.Traffic;

/// <summary>A TSIG key (RFC 8945): its name, HMAC algorithm and shared secret.</summary>
public sealed record TsigKey(string Name, string Algorithm, byte[] Secret, ConfigLocation Where)
{
    /// <summary>The algorithms Lifeboat signs with (names as in RFC 8945 and BIND key files).</summary>
    public static readonly IReadOnlyList<string> Algorithms = ["hmac-sha256", "hmac-sha512", "hmac-sha384", "hmac-sha1"];

    public override string ToString() => $"TSIG key '{Name}' ({Algorithm}, from {Where.File})";
}

/// <summary>
/// Reads key files in the format BIND's <c>tsig-keygen</c> writes (also used by named.conf <c>include</c>s, nsupdate
/// <c>-k</c>, Knot's keymgr exports):
/// <code>
/// key "lifeboat-update" {
///     algorithm hmac-sha256;
///     secret "base64...";
/// };
/// </code>
/// Several key blocks may be in one file; comments (<c>//</c>, <c>#</c>, <c>/* */</c>) are skipped. Errors name the
/// file, line and column. Written by hand: no DNS/BIND config library is reachable here.
/// </summary>
public static class TsigKeyFile
{
    public static IReadOnlyList<TsigKey> Load(string file)
    {
        string text;
        try { text = File.ReadAllText(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"{file}: cannot read TSIG key file: {e.Message}");
        }
        return Parse(file, text);
    }

    /// <summary>The one key of the file, or the key named <paramref name="name"/> when given.</summary>
    public static TsigKey LoadOne(string file, string? name)
    {
        var keys = Load(file);
        if (name is not null)
        {
            var k = keys.FirstOrDefault(k => string.Equals(k.Name.TrimEnd('.'), name.TrimEnd('.'), StringComparison.OrdinalIgnoreCase));
            return k ?? throw new ConfigException(file, 1, 1, "key", $"no key named '{name}' in this file (keys: {string.Join(", ", keys.Select(k => k.Name))})");
        }
        if (keys.Count > 1)
            throw new ConfigException(file, keys[1].Where.Line, 1, "key",
                $"the file holds {keys.Count} keys ({string.Join(", ", keys.Select(k => k.Name))}): name one with tsig_key_name");
        return keys[0];
    }

    public static IReadOnlyList<TsigKey> Parse(string file, string text)
    {
        var p = new Parser(file, text);
        var keys = new List<TsigKey>();
        while (true)
        {
            var t = p.Next();
            if (t.Kind == Tok.End) break;
            if (t.Kind != Tok.Word || t.Text != "key")
                throw p.Error(t, "(file)", $"expected 'key \"NAME\" {{ ... }};', found {t}");
            var nameTok = p.Next();
            if (nameTok.Kind is not (Tok.String or Tok.Word))
                throw p.Error(nameTok, "key", $"expected the key's name in quotes after 'key', found {nameTok}");
            var name = nameTok.Text;
            if (name.Length == 0 || name.Length > 253 || name.Split('.', StringSplitOptions.RemoveEmptyEntries).Any(l => l.Length > 63))
                throw p.Error(nameTok, "key", $"'{name}' is not a valid key name (a domain name: labels of 1 to 63 characters)");
            var where = $"key \"{name}\"";
            p.Expect(Tok.Open, where, "'{'");
            string? algorithm = null;
            byte[]? secret = null;
            while (true)
            {
                var s = p.Next();
                if (s.Kind == Tok.Close) break;
                if (s.Kind != Tok.Word)
                    throw p.Error(s, where, $"expected 'algorithm', 'secret' or '}}', found {s}");
                var v = p.Next();
                if (v.Kind is not (Tok.Word or Tok.String))
                    throw p.Error(v, $"{where}.{s.Text}", $"expected a value, found {v}");
                switch (s.Text)
                {
                    case "algorithm":
                        if (algorithm is not null) throw p.Error(s, $"{where}.algorithm", "given twice");
                        algorithm = v.Text.ToLowerInvariant().TrimEnd('.');
                        // BIND also writes the RFC 8945 long name for MD5; only the SHA family is accepted here.
                        var known = TsigKey.Algorithms.Contains(algorithm);
                        if (!known)
                            throw p.Error(v, $"{where}.algorithm",
                                $"'{v.Text}' is not supported (supported: {string.Join(", ", TsigKey.Algorithms)}; hmac-md5 is deprecated by RFC 8945)");
                        break;
                    case "secret":
                        if (secret is not null) throw p.Error(s, $"{where}.secret", "given twice");
                        try { secret = Convert.FromBase64String(v.Text); }
                        catch (FormatException) { throw p.Error(v, $"{where}.secret", "is not valid base64"); }
                        if (secret.Length == 0) throw p.Error(v, $"{where}.secret", "is empty");
                        break;
                    default:
                        throw p.Error(s, $"{where}.{s.Text}", "unknown statement (expected algorithm or secret)");
                }
                p.Expect(Tok.Semi, $"{where}.{s.Text}", "';'");
            }
            p.Expect(Tok.Semi, where, "';' after '}'");
            if (algorithm is null) throw p.Error(nameTok, where, "has no 'algorithm' statement (e.g. algorithm hmac-sha256;)");
            if (secret is null) throw p.Error(nameTok, where, "has no 'secret' statement");
            if (keys.Any(k => string.Equals(k.Name, name, StringComparison.OrdinalIgnoreCase)))
                throw p.Error(nameTok, where, "is defined twice");
            keys.Add(new TsigKey(name, algorithm, secret, new ConfigLocation(file, nameTok.Line, where)));
        }
        if (keys.Count == 0) throw new ConfigException(file, 1, 1, "(file)", "holds no key (expected 'key \"NAME\" { algorithm hmac-sha256; secret \"...\"; };' as tsig-keygen writes)");
        return keys;
    }

    private enum Tok { Word, String, Open, Close, Semi, End }

    private readonly record struct Token(Tok Kind, string Text, int Line, int Col)
    {
        public override string ToString() => Kind switch
        {
            Tok.End => "the end of the file",
            Tok.String => $"\"{Text}\"",
            _ => $"'{Text}'",
        };
    }

    private sealed class Parser(string file, string text)
    {
        private int _i;
        private int _line = 1;
        private int _col = 1;

        public ConfigException Error(Token t, string key, string msg) => new(file, t.Line, t.Col, key, msg);

        public void Expect(Tok kind, string key, string what)
        {
            var t = Next();
            if (t.Kind != kind) throw Error(t, key, $"expected {what}, found {t}");
        }

        private char Peek(int ahead = 0) => _i + ahead < text.Length ? text[_i + ahead] : '\0';

        private void Advance()
        {
            if (text[_i] == '\n') { _line++; _col = 1; } else _col++;
            _i++;
        }

        public Token Next()
        {
            while (_i < text.Length)
            {
                var c = Peek();
                if (char.IsWhiteSpace(c)) { Advance(); continue; }
                if (c == '#' || (c == '/' && Peek(1) == '/'))
                {
                    while (_i < text.Length && Peek() != '\n') Advance();
                    continue;
                }
                if (c == '/' && Peek(1) == '*')
                {
                    int l = _line, col = _col;
                    Advance(); Advance();
                    while (_i < text.Length && !(Peek() == '*' && Peek(1) == '/')) Advance();
                    if (_i >= text.Length) throw new ConfigException(file, l, col, "(file)", "unterminated /* comment");
                    Advance(); Advance();
                    continue;
                }
                break;
            }
            if (_i >= text.Length) return new Token(Tok.End, "", _line, _col);
            int line = _line, startCol = _col;
            var ch = Peek();
            switch (ch)
            {
                case '{': Advance(); return new Token(Tok.Open, "{", line, startCol);
                case '}': Advance(); return new Token(Tok.Close, "}", line, startCol);
                case ';': Advance(); return new Token(Tok.Semi, ";", line, startCol);
                case '"':
                {
                    Advance();
                    var sb = new System.Text.StringBuilder();
                    while (true)
                    {
                        if (_i >= text.Length || Peek() == '\n')
                            throw new ConfigException(file, line, startCol, "(file)", "unterminated string (missing closing \")");
                        if (Peek() == '"') { Advance(); break; }
                        if (Peek() == '\\' && _i + 1 < text.Length) Advance();
                        sb.Append(Peek());
                        Advance();
                    }
                    return new Token(Tok.String, sb.ToString(), line, startCol);
                }
                default:
                {
                    var start = _i;
                    while (_i < text.Length && !char.IsWhiteSpace(Peek()) && Peek() is not ('{' or '}' or ';' or '"')) Advance();
                    return new Token(Tok.Word, text[start.._i], line, startCol);
                }
            }
        }
    }
}
