// SPDX-License-Identifier: MIT
using FastPath.Core.Rules;
using FastPath.Dataplane.Workers;
using Xunit;

namespace FastPath.Dataplane.Tests.Workers;

public class RulesetVerdictTests
{
    /// <summary>RulesetVerdict.Decide turns the ruleset's verdict into the worker's with a cast: the two enums must agree value for value.</summary>
    [Fact]
    public void TheRulesetsVerdictsAndTheWorkersAreNumberedAlike()
    {
        Assert.Equal(Enum.GetNames<RuleVerdict>(), Enum.GetNames<Verdict>());
        foreach (var verdict in Enum.GetValues<RuleVerdict>())
            Assert.Equal(verdict.ToString(), ((Verdict)verdict).ToString());
    }
}
