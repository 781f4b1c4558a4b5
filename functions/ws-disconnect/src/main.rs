#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::runtime::serve_socket(shared::handlers::sockets::disconnect).await
}
