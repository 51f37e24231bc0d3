/**
 * Topic matching as RabbitMQ does it: keys are dot-separated words, `*` in a binding matches
 * exactly one word and `#` zero or more. An empty key has zero words (so `#` matches it and
 * `*` does not), while `"a."` has two words, the second one empty.
 */

/** Splits a routing or binding key into words the way RabbitMQ's topic exchange does. */
export function topicWords(key: string): string[] {
  return key === "" ? [] : key.split(".");
}

/**
 * Whether the binding key `pattern` (already split with {@link topicWords}) matches the
 * routing key `words`.
 *
 * @example
 * topicMatches(topicWords("a.#.z"), topicWords("a.z")); // true
 */
export function topicMatches(pattern: readonly string[], words: readonly string[]): boolean {
  return matchFrom(pattern, 0, words, 0);
}

function matchFrom(pattern: readonly string[], pi: number, words: readonly string[], wi: number): boolean {
  while (pi < pattern.length) {
    const word = pattern[pi];
    if (word === "#") {
      // Consecutive hashes match the same as one; collapsing them keeps backtracking linear for them.
      while (pattern[pi + 1] === "#") pi++;
      if (pi + 1 === pattern.length) return true;
      for (let k = wi; k <= words.length; k++) {
        if (matchFrom(pattern, pi + 1, words, k)) return true;
      }
      return false;
    }
    if (wi >= words.length) return false;
    if (word !== "*" && word !== words[wi]) return false;
    pi++;
    wi++;
  }
  return wi === words.length;
}
