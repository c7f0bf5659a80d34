//! The one table of diagnostic codes. A code never changes meaning; retired
//! codes are not reused. Each has a doc page `docs/errors/<CODE>.md`, which
//! `capgate explain` prints (it is compiled into the binary).

macro_rules! codes {
    ($($variant:ident = $num:literal, $title:literal;)*) => {
        /// A stable diagnostic code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $(
                #[doc = $title]
                $variant,
            )*
        }

        /// Every code, in numeric order.
        pub const ALL_CODES: &[Code] = &[$(Code::$variant,)*];

        impl Code {
            /// `CG0203`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => concat!("CG", $num),)* }
            }
            /// A short title.
            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title,)* }
            }
            /// The long explanation (markdown), from `docs/errors/`.
            pub fn doc(self) -> &'static str {
                match self {
                    $(Code::$variant => include_str!(concat!("../../docs/errors/CG", $num, ".md")),)*
                }
            }
            /// Parse `CG0203` (case-insensitive).
            pub fn parse(s: &str) -> Option<Code> {
                let up = s.trim().to_ascii_uppercase();
                ALL_CODES.iter().copied().find(|c| c.as_str() == up)
            }
        }
    };
}

codes! {
    // Input and JSON syntax (CG00xx)
    JsonSyntax = "0001", "the manifest is not valid JSON";
    DuplicateKey = "0002", "a JSON object has the same key twice";
    InputLimit = "0003", "the manifest is too large or too deeply nested";
    Encoding = "0004", "the manifest is not plain UTF-8 text";
    // Manifest shape (CG01xx)
    UnknownField = "0101", "unknown field";
    WrongType = "0102", "a field has the wrong type";
    MissingField = "0103", "a required field is missing";
    DuplicateTool = "0104", "two tools have the same name";
    GrammarVersion = "0105", "unsupported grammar version";
    EmptyValue = "0106", "a field that needs a value is empty";
    ConflictingFields = "0107", "two fields that mean the same thing are both present";
    UnknownProfile = "0108", "unknown profile";
    BadCommand = "0109", "the command is not usable";
    BadImage = "0110", "the image reference is not valid";
    BadToolName = "0111", "a tool name is not valid";
    // Params (CG012x)
    MissingParam = "0120", "a declared param has no value";
    UndeclaredParam = "0121", "a param value was given for a param the manifest does not declare";
    UnknownPlaceholder = "0122", "a placeholder names a param the manifest does not declare";
    BadPlaceholder = "0123", "a placeholder is malformed or in a place where it is not allowed";
    BadParamName = "0124", "a param name is not valid";
    BadParamValue = "0125", "a param value is not valid";
    UnusedParam = "0126", "a declared param is never used";
    // Capability grammar (CG02xx)
    MalformedCapability = "0201", "a capability does not have the form kind:actions:scope";
    UnknownKind = "0202", "unknown capability kind";
    BadAction = "0203", "unknown, empty or misplaced action";
    ForbiddenCharacter = "0204", "a text holds a control, format or whitespace character where none is allowed";
    BadRefinement = "0205", "unknown or invalid refinement";
    RelativePath = "0210", "a path is not absolute";
    UnnormalizedPath = "0211", "a path has `..`, `.`, empty or trailing components";
    SensitivePath = "0212", "a sensitive path is granted without ?sensitive=allow";
    BadGlob = "0213", "a glob other than a trailing /** or /* is used";
    UnsupportedPathCharacter = "0214", "a path holds a character no target can express";
    BadHost = "0220", "a host is not a valid DNS name, wildcard, IP literal or CIDR";
    NonAsciiHost = "0221", "a host has non-ASCII characters";
    BadPort = "0222", "a port is missing or not n, n-m or *";
    BadCidr = "0223", "a CIDR block is not valid";
    BadEnvName = "0230", "an environment variable name is not valid";
    SensitiveEnv = "0231", "a loader or interpreter hook variable is granted without ?sensitive=allow";
    BadEnvValue = "0232", "an env value is missing, misplaced or not valid";
    BadExec = "0240", "an exec scope is not an absolute path or a bare program name";
    BadIpc = "0250", "unknown IPC endpoint";
    BadClock = "0260", "unknown clock source";
    BadLimit = "0270", "unknown resource limit or invalid value";
    BadAssert = "0280", "an assertion id or text is not valid";
    // Policy (CG03xx)
    ConflictingLimit = "0301", "the same limit is set to two values";
    ConflictingEnv = "0302", "the same variable is both set to a value and passed from the host";
    BroadHost = "0350", "egress to any host";
    SecretAsRead = "0351", "a secret-looking variable is passed with read instead of inject";
    WritablePackageDir = "0352", "a system or package directory is writable";
    DangerousIpc = "0353", "an IPC endpoint that allows sandbox escape is granted";
    HostTmp = "0354", "the host's shared temporary directory is granted";
    NonAsciiPath = "0355", "a path has non-ASCII characters";
    NestedSandbox = "0356", "nested sandboxing is granted";
    // Targets (CG04xx)
    Unenforced = "0401", "a grant the target cannot enforce, with --strict";
    TooManyOptions = "0402", "the bwrap argv exceeds bwrap's option limit";
    // Import (CG051x)
    ImportTodo = "0510", "an import TODO is not resolved";
    ImportSource = "0511", "the import source cannot be read or has the wrong shape";
    // Review policy files (CG053x-CG054x)
    ReviewPolicyShape = "0530", "the review policy file has an unknown field, a wrong type or a missing part";
    ReviewPolicyUnknownFinding = "0531", "a review policy override names an id that is not in the review catalogue";
    ReviewPolicyNoReason = "0532", "a review policy override has no reason";
    ReviewPolicyBadAction = "0533", "a review policy override has no valid action (severity or waive), or both";
    ReviewPolicyBadCapability = "0534", "a review policy override's capability does not parse";
    ReviewPolicyDuplicate = "0535", "two review policy overrides have the same id and scope";
    ReviewPolicyUnused = "0536", "a review policy override matches no finding";
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
