/**
 * A minimal YAML emitter for JSON values, enough to show a spec read-only.
 * JupyterLab shares no YAML library with extensions, and a parser-sized npm
 * dependency would be most of this bundle for a display-only job.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const PLAIN = /^[A-Za-z0-9_./][A-Za-z0-9_./ =,;:$@()+*-]*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|~|y|n)$/i;
const NUMBER_LIKE = /^[-+.]?[0-9]/;

function scalar(value: null | boolean | number | string): string {
  if (typeof value !== 'string') {
    return JSON.stringify(value);
  }
  const plain =
    PLAIN.test(value) &&
    !RESERVED.test(value) &&
    !NUMBER_LIKE.test(value) &&
    !value.endsWith(' ') &&
    !value.endsWith(':') &&
    !value.includes(': ') &&
    !value.includes(' #');
  return plain ? value : JSON.stringify(value);
}

function isEmpty(value: Json): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    Object.keys(value).length === 0
  );
}

function isCollection(value: Json): value is Json[] | { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !isEmpty(value);
}

function lines(value: Json, indent: string): string[] {
  if (Array.isArray(value)) {
    return value.flatMap(item => {
      if (!isCollection(item)) {
        return [`${indent}- ${inline(item)}`];
      }
      const [first, ...rest] = lines(item, indent + '  ');
      return [`${indent}- ${first.trimStart()}`, ...rest];
    });
  }
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) =>
      isCollection(item)
        ? [`${indent}${scalar(key)}:`, ...lines(item, indent + '  ')]
        : [`${indent}${scalar(key)}: ${inline(item)}`]
    );
  }
  return [indent + inline(value)];
}

function inline(value: Json): string {
  if (Array.isArray(value)) {
    return '[]';
  }
  if (value !== null && typeof value === 'object') {
    return '{}';
  }
  return scalar(value);
}

/** Render a JSON value as block-style YAML. */
export function toYaml(value: unknown): string {
  return lines(value as Json, '').join('\n') + '\n';
}
