# RFC 8785 JSON Canonicalization Scheme (JCS) in pure Nix, for `manifestKey`.
#
#   serialize : JSON value (as from builtins.fromJSON) -> JCS text
#   ofText    : JSON text -> JCS text
#
# builtins.toJSON is close to JCS but not equal to it (Nix 2.8): it escapes U+0008 and U+000C
# as \u0008 and \u000c (JCS: \b and \f), sorts keys by UTF-8 bytes (JCS: by UTF-16 code units,
# which differs for keys that mix characters above U+FFFF with U+E000..U+FFFF), and prints
# floats with only 6 significant digits ("%g": 123456.789 -> 123457). This file fixes the
# first two exactly. For numbers it is exact for every integer of magnitude at most 2^53 and
# for every number that 6 significant digits represent exactly (0.5, 1e-7, 1e+30, 2.5e-05);
# any other number, and any string holding U+0000 (a Nix string cannot hold NUL), makes it
# throw instead of returning a wrong result.
let
  inherit (builtins)
    attrNames concatStringsSep elemAt fromJSON genList isAttrs isBool isFloat isInt isList
    isString length match replaceStrings sort stringLength substring toJSON typeOf;

  digits = "0123456789abcdef";
  hex2 = n: substring (n / 16) 1 digits + substring (n - (n / 16) * 16) 1 digits;
  zeros = n: concatStringsSep "" (genList (_: "0") n);

  # Strings: escape `"`, `\` and U+0001..U+001F, with the short forms JCS prescribes.
  controls = genList (i: fromJSON ("\"\\u00" + hex2 (i + 1) + "\"")) 31;
  short = { "8" = "\\b"; "9" = "\\t"; "10" = "\\n"; "12" = "\\f"; "13" = "\\r"; };
  controlEscapes = genList (i: short.${toString (i + 1)} or ("\\u00" + hex2 (i + 1))) 31;
  string = s: "\"" + replaceStrings ([ "\\" "\"" ] ++ controls) ([ "\\\\" "\\\"" ] ++ controlEscapes) s + "\"";

  # Keys: JCS sorts by UTF-16 code units; Nix compares strings bytewise (UTF-8 order = code
  # point order). The orders differ only because a character above U+FFFF (UTF-8 lead byte
  # F0..F4, a surrogate pair in UTF-16) sorts before U+E000..U+FFFF in UTF-16. Prefixing each
  # such lead byte with ED B0 (the UTF-8 bytes of the surrogate range, which valid UTF-8 never
  # holds) puts them between U+D7FF (ED 9F BF) and U+E000 (EE 80 80), keeping their own order.
  byte = i: s: substring i 1 (fromJSON ("\"" + s + "\""));
  astralLeads = map (byte 0) [ "\\ud800\\udc00" "\\ud8c0\\udc00" "\\ud9c0\\udc00" "\\udac0\\udc00" "\\udbc0\\udc00" ];
  surrogatePrefix = byte 0 "\\ud7ff" + byte 1 "\\u00b0";
  utf16Order = replaceStrings astralLeads (map (b: surrogatePrefix + b) astralLeads);
  sortedKeys = set: sort (a: b: utf16Order a < utf16Order b) (attrNames set);

  # Numbers: ECMAScript Number::toString (what JCS prescribes).
  maxSafe = 9007199254740992; # 2^53
  number = n:
    if isInt n && n <= maxSafe && n >= 0 - maxSafe then toString n
    else if isInt n then float n (n * 1.0)
    else float n n;
  float = original: f:
    let
      g = toJSON f; # "%g": at most 6 significant digits
      m = match "(-?)([0-9]+)(\\.([0-9]+))?(e([+-])0*([0-9]+))?" g;
      sign = elemAt m 0;
      all = elemAt m 1 + (if elemAt m 3 == null then "" else elemAt m 3);
      exp = if elemAt m 6 == null then 0 else (if elemAt m 5 == "-" then -1 else 1) * fromJSON (elemAt m 6);
      noLead = elemAt (match "0*([0-9]*)" all) 0;
      s = elemAt (match "([0-9]*[1-9])0*" noLead) 0; # the significant digits
      k = stringLength s;
      # value = 0.<noLead> * 10^n  (ECMAScript's n: s * 10^(n-k) = value)
      n = stringLength (elemAt m 1) + exp - (stringLength all - stringLength noLead);
      e = n - 1;
      expText = (if e < 0 then "e-" + toString (0 - e) else "e+" + toString e);
    in
    if m == null || fromJSON g != f then
      throw "capgate manifestKey: a number (about ${toJSON original}) has no exact JCS form in pure Nix, which prints floats with 6 significant digits; use `capgate key`"
    else if f == 0 then "0"
    else sign + (
      if k <= n && n <= 21 then s + zeros (n - k)
      else if 0 < n && n <= 21 then substring 0 n s + "." + substring n k s
      else if -6 < n && n <= 0 then "0." + zeros (0 - n) + s
      else if k == 1 then s + expText
      else substring 0 1 s + "." + substring 1 k s + expText);

  serialize = v:
    if v == null then "null"
    else if isBool v then (if v then "true" else "false")
    else if isInt v || isFloat v then number v
    else if isString v then string v
    else if isList v then "[" + concatStringsSep "," (map serialize v) + "]"
    else if isAttrs v then "{" + concatStringsSep "," (map (k: string k + ":" + serialize v.${k}) (sortedKeys v)) + "}"
    else throw "capgate manifestKey: a ${typeOf v} is not a JSON value";

  # A JSON string escape of U+0000 (`\u0000` not preceded by an escaping backslash): Nix
  # would silently cut the string at it. Dropping `\\` pairs left to right first leaves every
  # real escape intact and no false ones.
  hasNul = text:
    let t = replaceStrings [ "\\\\" ] [ "" ] text;
    in stringLength (replaceStrings [ "\\u0000" ] [ "" ] t) != stringLength t;

  ofText = text:
    if hasNul text then throw "capgate manifestKey: the JSON holds U+0000, which a Nix string cannot hold; use `capgate key`"
    else serialize (fromJSON text);
in
{
  inherit serialize ofText;
}
