// SPDX-License-Identifier: MIT
namespace FastPath.Control.Conntrack;

/// <summary>A long option: has_arg is 0 (none), 1 (required) or 2 (optional, only as --name=VALUE).</summary>
/// <param name="ExactOnly">Matched only when spelled out: FastPath's own options, so that they make none of conntrack's abbreviations ambiguous.</param>
internal readonly record struct LongOption(string Name, int HasArg, int Val, bool ExactOnly = false);

/// <summary>
/// glibc's getopt_long as conntrack calls it (opterr 0, an option string starting with ':'), so that a command
/// line is cut into options exactly as conntrack cuts it: arguments that are not options are passed over and
/// moved behind the options (permutation), "--" ends the options, short options cluster ("-pudp", "-zL") and
/// take their value attached or as the next argument, a long option takes "=VALUE" or the next argument and may
/// be abbreviated to any prefix that names one option (or several with the same val and has_arg). Errors print
/// nothing: <see cref="Next"/> answers '?' (unknown, ambiguous, or a value given to an option without one) or
/// ':' (a value missing at the end), and conntrack names <c>Argument(Optind - 1)</c>, whatever it holds then.
/// </summary>
internal sealed class Getopt(IReadOnlyList<string> argv, string shortOptions, IEnumerable<LongOption> longOptions)
{
    private readonly List<string> _argv = [.. argv];
    private string? _cluster; // the argument whose short options are being read, and where
    private int _next;
    private int _firstNonOption = 1;
    private int _lastNonOption = 1;

    /// <summary>conntrack merges a protocol's options in after -p; they count from the next call.</summary>
    public List<LongOption> LongOptions { get; } = [.. longOptions];

    /// <summary>The index of the next argument to read (argv[0] is the program's name).</summary>
    public int Optind { get; set; } = 1;

    /// <summary>The value of the option <see cref="Next"/> returned, or null.</summary>
    public string? Optarg { get; private set; }

    /// <summary>The option <see cref="Next"/> returned as it was written: "-s", or "--dp" for --dport (before any "=").</summary>
    public string Option { get; private set; } = "";

    public int Count => _argv.Count;

    /// <summary>An argument as it stands now, after the permutation so far.</summary>
    public string Argument(int index) => _argv[index];

    /// <summary>The next option's val, '?' or ':' on an error, or -1 when no option is left.</summary>
    public int Next()
    {
        Optarg = null;
        if (_cluster is null || _next == _cluster.Length)
        {
            _cluster = null;
            _lastNonOption = Math.Min(_lastNonOption, Optind);
            _firstNonOption = Math.Min(_firstNonOption, Optind);
            if (_firstNonOption != _lastNonOption && _lastNonOption != Optind)
                Exchange();
            else if (_lastNonOption != Optind)
                _firstNonOption = Optind;
            while (Optind < Count && IsNonOption(_argv[Optind]))
                Optind++;
            _lastNonOption = Optind;
            if (Optind != Count && _argv[Optind] == "--")
            {
                Optind++;
                if (_firstNonOption != _lastNonOption && _lastNonOption != Optind)
                    Exchange();
                else if (_firstNonOption == _lastNonOption)
                    _firstNonOption = Optind;
                _lastNonOption = Count;
                Optind = Count;
            }
            if (Optind == Count)
                return -1;
            if (_argv[Optind][1] == '-')
                return Long(_argv[Optind][2..]);
            _cluster = _argv[Optind];
            _next = 1;
        }

        char c = _cluster[_next++];
        Option = "-" + c;
        // Optind moves on as the last character of a cluster is read, so an error inside one names the argument before it.
        if (_next == _cluster.Length)
            Optind++;
        int at = c is ':' or ';' ? -1 : shortOptions.IndexOf(c);
        if (at < 0)
            return '?';
        bool takesValue = at + 1 < shortOptions.Length && shortOptions[at + 1] == ':';
        if (!takesValue)
            return c;
        bool optional = at + 2 < shortOptions.Length && shortOptions[at + 2] == ':';
        if (_next < _cluster.Length)
        {
            Optarg = _cluster[_next..];
            Optind++;
        }
        else if (!optional)
        {
            if (Optind == Count)
                c = ':';
            else
                Optarg = _argv[Optind++];
        }
        _cluster = null;
        return c;
    }

    private int Long(string text)
    {
        int equals = text.IndexOf('=');
        string name = equals < 0 ? text : text[..equals];
        Option = "--" + name;
        Optind++;
        LongOption? found = null;
        foreach (var option in LongOptions)
        {
            if (option.Name == name)
            {
                found = option;
                break;
            }
        }
        if (found is null)
        {
            foreach (var option in LongOptions)
            {
                if (option.ExactOnly || !option.Name.StartsWith(name, StringComparison.Ordinal))
                    continue;
                if (found is null)
                    found = option;
                else if (found.Value.HasArg != option.HasArg || found.Value.Val != option.Val)
                    return '?'; // ambiguous
            }
        }
        if (found is not { } match)
            return '?';
        if (equals >= 0)
        {
            if (match.HasArg == 0)
                return '?';
            Optarg = text[(equals + 1)..];
        }
        else if (match.HasArg == 1)
        {
            if (Optind == Count)
                return ':';
            Optarg = _argv[Optind++];
        }
        return match.Val;
    }

    private static bool IsNonOption(string argument) => argument.Length < 2 || argument[0] != '-';

    // The options read since the last non-options move before them, both runs keeping their order.
    private void Exchange()
    {
        var options = _argv.GetRange(_lastNonOption, Optind - _lastNonOption);
        _argv.RemoveRange(_lastNonOption, options.Count);
        _argv.InsertRange(_firstNonOption, options);
        _firstNonOption += Optind - _lastNonOption;
        _lastNonOption = Optind;
    }
}
