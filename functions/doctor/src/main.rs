//! doctor: the integration doctor's command line (not a Lambda: `cargo lambda watch` may list
//! it as a function, and then it only says so and stops).

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        eprintln!("doctor is a command an operator runs, not a Lambda function; nothing done");
        std::process::exit(2);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{}", doctor::cli::USAGE);
        return;
    }
    let outcome = doctor::cli::run(&args).await;
    print!("{}", outcome.stdout);
    eprint!("{}", outcome.stderr);
    std::process::exit(outcome.code);
}
