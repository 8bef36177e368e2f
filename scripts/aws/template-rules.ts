// The template's own Rules evaluated on the parameters a deploy would send, so `npm run deploy` refuses in one line what CloudFormation would refuse.
//
// CloudFormation evaluates a template's Rules before it creates or changes anything, and fails the call with the
// assertion's AssertDescription (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/rules-section-structure.html).
// This evaluates the rule functions that need nothing but the parameter values (Ref, Fn::Equals, Fn::Not, Fn::And,
// Fn::Or, Fn::Contains); an assertion that uses anything else (Fn::ValueOfAll, Fn::EachMemberEquals: they look up AWS
// resources) or a value this command cannot know (a masked previous value) is left to CloudFormation, never guessed.

const UNKNOWN = Symbol("unknown");
type Value = string | string[] | boolean | typeof UNKNOWN;

export interface RuleAssertion {
  Assert: unknown;
  AssertDescription?: string;
}
export interface TemplateRule {
  RuleCondition?: unknown;
  Assertions: RuleAssertion[];
}

function evaluate(node: unknown, values: Record<string, string | undefined>): Value {
  if (typeof node === "string") return node;
  if (Array.isArray(node)) {
    const items = node.map((item) => evaluate(item, values));
    return items.every((item) => typeof item === "string") ? (items as string[]) : UNKNOWN;
  }
  if (!node || typeof node !== "object") return UNKNOWN;
  const [[name, argument]] = Object.entries(node) as [[string, unknown]];
  const args = Array.isArray(argument) ? argument : [argument];
  const parts = args.map((arg) => evaluate(arg, values));
  const known = !parts.includes(UNKNOWN);
  switch (name) {
    case "Ref": {
      const value = values[String(argument)];
      return value === undefined ? UNKNOWN : value;
    }
    case "Fn::Equals":
      return known ? JSON.stringify(parts[0]) === JSON.stringify(parts[1]) : UNKNOWN;
    case "Fn::Not":
      return typeof parts[0] === "boolean" ? !parts[0] : UNKNOWN;
    case "Fn::And":
      // false wins over unknown; true needs every part known
      return parts.includes(false) ? false : known ? true : UNKNOWN;
    case "Fn::Or":
      return parts.includes(true) ? true : known ? false : UNKNOWN;
    case "Fn::Contains":
      return known && Array.isArray(parts[0]) ? parts[0].includes(parts[1] as string) : UNKNOWN;
    default:
      return UNKNOWN;
  }
}

/**
 * The first assertion the values certainly break, as "its AssertDescription (rule NAME)"; null when none does.
 * `values` holds each parameter's value as CloudFormation would see it (a List parameter comma-joined); a parameter
 * absent from it is unknown.
 */
export function brokenRule(rules: Record<string, TemplateRule>, values: Record<string, string | undefined>): string | null {
  for (const [name, rule] of Object.entries(rules)) {
    if (rule.RuleCondition !== undefined && evaluate(rule.RuleCondition, values) !== true) continue;
    for (const assertion of rule.Assertions) {
      if (evaluate(assertion.Assert, values) === false) return `${assertion.AssertDescription ?? "an assertion failed"} (rule ${name})`;
    }
  }
  return null;
}
