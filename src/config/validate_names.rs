//! The naming rule of each AWS resource a `[names]` entry may name.
//!
//! A name built from `{project}-{environment}-{suffix}` only needs its length checked (the
//! project alphabet satisfies every character rule), but a name taken from an existing stack
//! can hold anything that stack's tool accepted. Each rule here is the one the resource's API
//! documents, so a name AWS would refuse is caught before the first call.

use super::validate::Validator;
use super::NameOverrides;

/// How a character rule reads in a message, and which characters it allows.
struct Alphabet {
    described: &'static str,
    allows: fn(char) -> bool,
}

const LETTERS_DIGITS_HYPHENS_UNDERSCORES: Alphabet = Alphabet {
    described: "letters, digits, hyphens and underscores",
    allows: |c| c.is_ascii_alphanumeric() || c == '-' || c == '_',
};

const LETTERS_DIGITS_HYPHENS: Alphabet = Alphabet {
    described: "letters, digits and hyphens, not starting or ending with a hyphen",
    allows: |c| c.is_ascii_alphanumeric() || c == '-',
};

/// IAM: `[\w+=,.@-]+` (CreateRole, RoleName).
const IAM: Alphabet = Alphabet {
    described: "letters, digits and + = , . @ _ -",
    allows: |c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c),
};

/// CloudWatch Logs: `[\.\-_/#A-Za-z0-9]+` (CreateLogGroup, logGroupName).
const LOG_GROUP: Alphabet = Alphabet {
    described: "letters, digits and . - _ / #",
    allows: |c| c.is_ascii_alphanumeric() || "._-/#".contains(c),
};

/// EC2 security groups in a VPC: `a-zA-Z0-9`, spaces and `._-:/()#,@[]+=&;{}!$*`
/// (CreateSecurityGroup, GroupName).
const SECURITY_GROUP: Alphabet = Alphabet {
    described: "letters, digits, spaces and . _ - : / ( ) # , @ [ ] + = & ; { } ! $ *, not \
                starting with \"sg-\"",
    allows: |c| c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c),
};

/// ECR: `(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*`, 2-256 characters
/// (CreateRepository, repositoryName).
const ECR: Alphabet = Alphabet {
    described: "lowercase letters and digits, parts joined by one of . _ - and namespaces by /",
    allows: |c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c),
};

/// Each key of `[names]`: what it names, its length limits and its alphabet.
pub const NAME_RULES: &[(&str, &str, usize, usize)] = &[
    ("alb_security_group", "security group", 1, 255),
    ("ecs_security_group", "security group", 1, 255),
    ("ecr_repository", "ECR repository", 2, 256),
    ("execution_role", "IAM role", 1, 64),
    ("task_role", "IAM role", 1, 64),
    ("task_role_policy", "IAM inline policy", 1, 128),
    ("log_group", "log group", 1, 512),
    ("load_balancer", "load balancer", 1, 32),
    ("target_group", "target group", 1, 32),
    ("cluster", "ECS cluster", 1, 255),
    ("task_family", "task definition family", 1, 255),
    ("service", "ECS service", 1, 255),
    ("container", "container", 1, 255),
];

fn alphabet(key: &str) -> &'static Alphabet {
    match key {
        "alb_security_group" | "ecs_security_group" => &SECURITY_GROUP,
        "ecr_repository" => &ECR,
        "execution_role" | "task_role" | "task_role_policy" => &IAM,
        "log_group" => &LOG_GROUP,
        "load_balancer" | "target_group" => &LETTERS_DIGITS_HYPHENS,
        _ => &LETTERS_DIGITS_HYPHENS_UNDERSCORES,
    }
}

/// Why `name` cannot be the name of what `[names].key` names, with what is allowed; `None`
/// when AWS accepts it (or `key` is not a key of `[names]`).
pub fn name_rule_error(key: &str, name: &str) -> Option<String> {
    let (_, what, min, max) = NAME_RULES.iter().find(|(k, ..)| *k == key)?;
    let rule = alphabet(key);
    let length = name.chars().count();
    let allowed = format!(
        "a {what} name has {min}-{max} characters: {}",
        rule.described
    );
    let why = if length < *min || length > *max {
        format!("has {length} characters")
    } else if let Some(c) = name.chars().find(|c| !(rule.allows)(*c)) {
        format!("contains {c:?}")
    } else if key.ends_with("security_group") && name.to_ascii_lowercase().starts_with("sg-") {
        "starts with \"sg-\", which EC2 keeps for group IDs".to_owned()
    } else if matches!(key, "load_balancer" | "target_group")
        && (name.starts_with('-') || name.ends_with('-'))
    {
        "starts or ends with a hyphen".to_owned()
    } else if key == "load_balancer" && name.starts_with("internal-") {
        "starts with \"internal-\", which Elastic Load Balancing keeps for internal load \
         balancers"
            .to_owned()
    } else if key == "ecr_repository" && !ecr_parts_ok(name) {
        "has a part that starts or ends with . _ - or /, or two of them in a row".to_owned()
    } else {
        return None;
    };
    Some(format!("{name:?} {why}; {allowed}"))
}

/// ECR's pattern: every `/`-separated part is letters and digits joined by single separators.
fn ecr_parts_ok(name: &str) -> bool {
    name.split('/')
        .all(|part| !part.is_empty() && part.split(['.', '_', '-']).all(|piece| !piece.is_empty()))
}

/// Checks every entry of `[names]`, each at its own line.
pub(super) fn check(names: &NameOverrides, v: &mut Validator<'_>) -> NameOverrides {
    for (key, value) in names.entries() {
        if let Some(message) = value.and_then(|name| name_rule_error(key, name)) {
            v.push(&["names", key], message);
        }
    }
    names.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_old_stacks_names_are_accepted() {
        assert_eq!(
            name_rule_error("ecs_security_group", "simhill-dev-ecs-tasks-sg"),
            None
        );
        assert_eq!(name_rule_error("log_group", "/ecs/simhill-dev"), None);
        assert_eq!(name_rule_error("container", "simhill-dev-container"), None);
        assert_eq!(name_rule_error("ecr_repository", "flask-tp-app"), None);
        assert_eq!(
            name_rule_error("execution_role", "simhill-dev-ecsTaskExecutionRole"),
            None
        );
    }

    #[test]
    fn each_rule_says_what_is_wrong_and_what_is_allowed() {
        let cases = [
            (
                "load_balancer",
                "a-load-balancer-name-of-33-chars!",
                "33 characters",
            ),
            ("load_balancer", "internal-web", "\"internal-\""),
            ("target_group", "web-", "hyphen"),
            ("target_group", "web_tg", "'_'"),
            ("alb_security_group", "sg-web", "\"sg-\""),
            ("ecr_repository", "Flask", "'F'"),
            ("ecr_repository", "flask--app", "in a row"),
            ("log_group", "/ecs/app dev", "' '"),
            ("execution_role", "role/with/slashes", "'/'"),
            ("cluster", "", "0 characters"),
            ("container", "app.web", "'.'"),
        ];
        for (key, name, why) in cases {
            let message = name_rule_error(key, name).unwrap_or_default();
            assert!(message.contains(why), "{key} = {name:?}: {message}");
            assert!(message.contains("characters:"), "{key}: {message}");
        }
    }

    #[test]
    fn every_key_of_the_table_has_a_rule() {
        for (key, _) in NameOverrides::default().entries() {
            assert!(NAME_RULES.iter().any(|(k, ..)| *k == key), "{key}");
        }
        assert_eq!(NAME_RULES.len(), NameOverrides::default().entries().len());
    }
}
